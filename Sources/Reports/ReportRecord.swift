import Directory
import Foundation
import LDAPClient

/// A report that was made (and mailed): a `tgReport` entry under the tenant's
/// `ou=reports`, `cn=<period>.<start YYYYmmddHHMMSSZ>`. Its existence tells the scheduler
/// that this report is done.
public struct ReportRecord: Sendable, Hashable {
    public var orgNumber: String
    public var period: ReportPeriod
    public var start: Date
    /// The link's expiry (`tgNotAfter`).
    public var notAfter: Date
    /// The signed link (`labeledURI`).
    public var link: String
    /// A JSON summary (`tgEventData`): totals, availability, mail id.
    public var summary: String?

    public init(orgNumber: String, period: ReportPeriod, start: Date, notAfter: Date, link: String, summary: String? = nil) {
        self.orgNumber = orgNumber
        self.period = period
        self.start = start
        self.notAfter = notAfter
        self.link = link
        self.summary = summary
    }

    /// `<period>.<start>`.
    public static func cn(period: ReportPeriod, start: Date) -> String { "\(period.rawValue).\(GeneralizedTime.string(start))" }

    public static func dn(_ layout: DirectoryLayout, orgNumber: String, period: ReportPeriod, start: Date) -> DistinguishedName {
        layout.reports(orgNumber).child("cn", cn(period: period, start: start))
    }

    public init?(entry: LDAPEntry) {
        guard let org = entry["tgOrgNumber"], let period = entry["tgReportPeriod"].flatMap(ReportPeriod.init(rawValue:)),
              let start = entry["tgSampleStart"].flatMap(GeneralizedTime.date) else { return nil }
        self.init(orgNumber: org, period: period, start: start,
                  notAfter: entry["tgNotAfter"].flatMap(GeneralizedTime.date) ?? start, link: entry["labeledURI"] ?? "",
                  summary: entry["tgEventData"])
    }

    public var attributes: [(String, [String])] {
        [("objectClass", ["tgReport"]), ("cn", [Self.cn(period: period, start: start)]), ("tgOrgNumber", [orgNumber]),
         ("tgReportPeriod", [period.rawValue]), ("tgSampleStart", [GeneralizedTime.string(start)]),
         ("tgNotAfter", [GeneralizedTime.string(notAfter)]), ("labeledURI", [link]),
         ("tgEventData", summary.map { [$0] } ?? [])].filter { !$0.1.isEmpty }
    }

    /// The stored record, or nil.
    public static func read(_ store: DirectoryStore, orgNumber: String, period: ReportPeriod, start: Date) async throws -> ReportRecord? {
        try await store.client.read(dn(store.layout, orgNumber: orgNumber, period: period, start: start)).flatMap(ReportRecord.init(entry:))
    }
}
