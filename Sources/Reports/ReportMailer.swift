import Directory
import Foundation
import Mail

/// The report mail: a short summary and the signed link, as text and HTML, spooled like
/// the verdict mails (``MailSpool``: held before the `tgReport` entry is written, released
/// after; ``MailDelivery`` of `tollgate serve` sends it).
public struct ReportMailer: Sendable {
    public let spool: MailSpool
    public let from: String
    /// True: released mail goes to `pending/` for SMTP delivery; false: to the outbox.
    public let forDelivery: Bool

    /// The spool metadata kind of report mails.
    public static let kind = "report"

    public init(spool: MailSpool, from: String, forDelivery: Bool) {
        self.spool = spool
        self.from = from
        self.forDelivery = forDelivery
    }

    /// The message to `to` for `report` with `link` valid until `expires`.
    public func message(_ report: ReportAnalysis, to: String, link: String, expires: Date) -> MailMessage {
        let day = String(ReportPage.iso(report.start).prefix(10))
        let subject = "Tollgate \(report.period.rawValue) report \(day): \(report.organisation)"
        let until = ReportPage.iso(expires)
        let availability = report.total.availability.map(ReportPage.percent) ?? "–"
        let flagged = report.anomalies.filter(\.flagged)
        var text = "Your Tollgate \(report.period.rawValue) report for \(report.organisation) (organisation \(report.orgNumber)), "
            + "\(ReportPage.iso(report.start)) to \(ReportPage.iso(report.end)) UTC, is ready.\n\n"
            + "Bytes in: \(ReportPage.grouped(report.total.bytesIn))\nBytes out: \(ReportPage.grouped(report.total.bytesOut))\n"
            + "Availability: \(availability)\nRefused attempts: \(ReportPage.grouped(Int64(report.total.deniedAttempts)))\n"
        for a in flagged { text += "Unusual: \(a.subject): \(a.explanation)\n" }
        text += "\nThe full report with charts (valid until \(until)):\n\(link)\n"
        var html = "<p>Your Tollgate \(HTML.escape(report.period.rawValue)) report for <b>\(HTML.escape(report.organisation))</b> "
            + "(organisation \(HTML.escape(report.orgNumber))), \(ReportPage.iso(report.start)) to \(ReportPage.iso(report.end)) UTC, is ready.</p>\n<table>\n"
        for (label, value) in [("Bytes in", ReportPage.grouped(report.total.bytesIn)), ("Bytes out", ReportPage.grouped(report.total.bytesOut)),
                               ("Availability", availability), ("Refused attempts", ReportPage.grouped(Int64(report.total.deniedAttempts)))] {
            html += "<tr><th align=\"left\">\(label)</th><td align=\"right\">\(HTML.escape(value))</td></tr>\n"
        }
        html += "</table>\n"
        for a in flagged { html += "<p><b>Unusual:</b> \(HTML.escape(a.subject)): \(HTML.escape(a.explanation))</p>\n" }
        html += "<p><a href=\"\(HTML.escape(link))\">Open the full report</a> (valid until \(until)):<br>\(HTML.escape(link))</p>\n"
        return MailMessage(from: from, to: [to], subject: subject, text: text, html: html)
    }

    /// Writes `message` to `held/` (see ``MailSpool/hold(_:metadata:now:)``).
    func hold(_ message: MailMessage, orgNumber: String, reportCN: String) async throws(ReportError) -> SpoolEntry {
        do {
            return try await spool.hold(message, metadata: ["kind": Self.kind, "orgNumber": orgNumber, "report": reportCN])
        } catch {
            throw .mail("\(error)")
        }
    }

    func release(_ entry: SpoolEntry) async throws(ReportError) -> SpoolEntry {
        do {
            return try await spool.release(entry, forDelivery: forDelivery)
        } catch {
            throw .mail("\(error)")
        }
    }

    func discard(_ entry: SpoolEntry) async {
        try? await spool.discard(entry)
    }

    /// Decides about held report mail whose writer died: release it when its `tgReport`
    /// entry exists (the report was recorded), discard it otherwise (the next pass makes
    /// the report again); other mail goes to `fallback`.
    public static func heldResolver(store: DirectoryStore,
                                    fallback: @escaping @Sendable (SpoolEntry) async -> HeldMailDecision) -> @Sendable (SpoolEntry) async -> HeldMailDecision {
        { entry in
            guard entry.metadata?["kind"] == kind else { return await fallback(entry) }
            guard let org = entry.metadata?["orgNumber"], let cn = entry.metadata?["report"] else { return .release }
            do {
                return try await store.client.read(store.layout.reports(org).child("cn", cn), attributes: ["cn"]) != nil ? .release : .discard
            } catch {
                return .keep
            }
        }
    }
}
