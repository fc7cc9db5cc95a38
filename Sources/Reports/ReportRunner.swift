import Crypto
import Directory
import Foundation
import LDAPClient
import Logging
import Mail

/// Makes one report: computes it, signs its link, stores the `tgReport` entry and mails
/// the subscriber. Used by ``ReportScheduler`` and `tollgate admin report run`.
public struct ReportRunner: Sendable {
    public let source: ReportSource
    public let key: SymmetricKey
    /// Tollgate's public base URL for links.
    public let publicURL: String
    /// Days a link stays valid.
    public let linkDays: Int
    /// nil: no mail.
    public let mailer: ReportMailer?
    public let logger: Logger

    public init(source: ReportSource, key: SymmetricKey, publicURL: String, linkDays: Int = 30, mailer: ReportMailer?,
                logger: Logger = Logger(label: "tollgate.reports")) {
        self.source = source
        self.key = key
        self.publicURL = publicURL
        self.linkDays = max(1, linkDays)
        self.mailer = mailer
        self.logger = logger
    }

    /// What one run did.
    public struct Outcome: Sendable {
        public var link: String
        public var record: ReportRecord
        /// nil when nothing was done.
        public var analysis: ReportAnalysis?
        /// The spooled mail, nil without mailer or mail address.
        public var mail: SpoolEntry?
        /// False: a `tgReport` entry existed already and `replace` was false (nothing done).
        public var created: Bool
    }

    /// Makes the report of `subscriber` for `period` starting at `start`. With `replace`
    /// false an existing `tgReport` entry means the report is done (returns it with
    /// `created` false); with true (the CLI) it is replaced and mailed again.
    public func run(subscriber: Subscriber, period: ReportPeriod, start: Date, replace: Bool, now: Date = Date()) async throws(ReportError) -> Outcome {
        let store = source.store
        let dn = ReportRecord.dn(store.layout, orgNumber: subscriber.orgNumber, period: period, start: start)
        let existing: ReportRecord?
        do {
            existing = try await ReportRecord.read(store, orgNumber: subscriber.orgNumber, period: period, start: start)
        } catch {
            throw .directory("\(error)")
        }
        if let existing, !replace {
            return Outcome(link: existing.link, record: existing, analysis: nil, mail: nil, created: false)
        }
        let analysis = try await source.analysis(subscriber: subscriber, period: period, start: start)
        let expires = Int64(now.timeIntervalSince1970) + Int64(linkDays) * 86_400
        let link = ReportLink(orgNumber: subscriber.orgNumber, period: period, start: start, expires: expires, key: key).url(publicURL: publicURL)
        var held: SpoolEntry?
        if let mailer, !subscriber.mail.isEmpty {
            let message = mailer.message(analysis, to: subscriber.mail, link: link, expires: Date(timeIntervalSince1970: TimeInterval(expires)))
            held = try await mailer.hold(message, orgNumber: subscriber.orgNumber, reportCN: ReportRecord.cn(period: period, start: start))
        }
        let summary: [String: Any] = [
            "bytesIn": analysis.total.bytesIn, "bytesOut": analysis.total.bytesOut, "packets": analysis.total.packets,
            "deniedAttempts": analysis.total.deniedAttempts, "availability": analysis.total.availability ?? NSNull(),
            "anomalies": analysis.anomalies.filter(\.flagged).map(\.subject), "mailId": held?.id ?? NSNull(),
        ]
        let json = (try? JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        let record = ReportRecord(orgNumber: subscriber.orgNumber, period: period, start: start,
                                  notAfter: Date(timeIntervalSince1970: TimeInterval(expires)), link: link, summary: json)
        do {
            if existing != nil {
                try await store.client.modify(dn, [.replace("tgNotAfter", [GeneralizedTime.string(record.notAfter)]),
                                                   .replace("labeledURI", [link]), .replace("tgEventData", json.map { [$0] } ?? [])])
            } else {
                try await store.client.add(dn, attributes: record.attributes)
            }
        } catch let error as LDAPError where error.code == .entryAlreadyExists && !replace {
            // Another server made it meanwhile.
            if let held, let mailer { await mailer.discard(held) }
            let other = (try? await ReportRecord.read(store, orgNumber: subscriber.orgNumber, period: period, start: start)) ?? nil
            return Outcome(link: other?.link ?? link, record: other ?? record, analysis: analysis, mail: nil, created: false)
        } catch {
            if let held, let mailer { await mailer.discard(held) }
            throw .directory("\(error)")
        }
        var mail: SpoolEntry?
        if let held, let mailer { mail = try await mailer.release(held) }
        logger.info("report made", metadata: ["org": "\(subscriber.orgNumber)", "period": "\(period.rawValue)",
                                              "start": "\(GeneralizedTime.string(start))", "mailed": "\(mail != nil)"])
        return Outcome(link: link, record: record, analysis: analysis, mail: mail, created: true)
    }
}
