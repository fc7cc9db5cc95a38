import Foundation
import Mail

/// Health mails to a subscriber (the `mail` of its `tgSubscriber` entry) through the
/// mail spool, the same way as the subscription verdict mails: text and HTML.
public struct HealthMailer: Sendable {
    public let spool: MailSpool
    public let from: String
    /// True: to `pending/` for SMTP delivery; false: straight to the outbox.
    public let forDelivery: Bool

    public init(spool: MailSpool, from: String, forDelivery: Bool) {
        self.spool = spool
        self.from = from
        self.forDelivery = forDelivery
    }

    /// The message for `mail` about converter `converter` of `orgNumber`.
    public func message(_ mail: HealthTracker.Mail, to recipient: String, orgNumber: String, converter: String,
                        at time: Date) -> MailMessage {
        let when = time.formatted(.iso8601)
        let subject: String
        var lines: [String]
        switch mail {
        case .down(let reason):
            subject = "Converter \(converter) is down"
            lines = ["Tollgate cannot reach converter \(converter) (organisation \(orgNumber)) since \(when).",
                     "Reason: \(reason).",
                     "Check that the converter is powered, online and that tollgate-agent runs with its status API reachable from Tollgate.",
                     "You will get one more mail when it is back."]
        case .recovered(let health):
            subject = "Converter \(converter) is back (\(health.rawValue))"
            lines = ["Converter \(converter) (organisation \(orgNumber)) answers again since \(when); its health is \(health.rawValue)."]
        case .digest(let health, let changes):
            subject = "Converter \(converter): \(changes) state changes, now \(health.rawValue)"
            lines = ["Converter \(converter) (organisation \(orgNumber)) changed state \(changes) times while Tollgate held its mails because it kept flapping.",
                     "It has been stable since; its health is now \(health.rawValue) (\(when))."]
        }
        let text = lines.joined(separator: "\n\n") + "\n\n-- \nTollgate monitoring\n"
        let html = "<html><body>" + lines.map { "<p>\(HTML.escape($0))</p>" }.joined()
            + "<p style=\"color:#666\">Tollgate monitoring</p></body></html>"
        return MailMessage(from: from, to: [recipient], subject: subject, text: text, html: html)
    }

    /// Writes the mail to the spool.
    public func send(_ mail: HealthTracker.Mail, to recipient: String, orgNumber: String, converter: String,
                     at time: Date = Date()) async throws {
        let kind: String
        switch mail {
        case .down: kind = "monitor.down"
        case .recovered: kind = "monitor.recovered"
        case .digest: kind = "monitor.digest"
        }
        try await spool.enqueue(message(mail, to: recipient, orgNumber: orgNumber, converter: converter, at: time),
                                forDelivery: forDelivery,
                                metadata: ["kind": kind, "orgNumber": orgNumber, "converter": converter])
    }
}
