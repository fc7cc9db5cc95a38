import Directory
import Foundation
import Logging
import Mail

/// The verdict mails of applications (approved with the credentials and next steps,
/// rejected with the reason or rule) and their place in the mail spool.
///
/// A verdict mail is written to the spool's `held/` before the verdict is committed to
/// the directory, released to `pending/` (or the outbox) after the commit and discarded
/// if the commit fails. So a crash at any point loses no mail and sends none for a
/// verdict that was never made: a server's ``MailDelivery`` resolves held mail whose
/// writer died with ``heldResolver(applications:)``.
public struct ApplicationMailer: Sendable {
    public let spool: MailSpool
    /// Sender address (envelope and `From:`).
    public let from: String
    /// True: released mail goes to `pending/` for SMTP delivery (a server with an SMTP
    /// host, and the admin CLI: a server delivers it or moves it to the outbox); false:
    /// to the outbox directly.
    public let forDelivery: Bool
    /// Tollgate's public base URL (`https://tollgate.example.net:8443`) for next steps.
    public let publicURL: String?

    public init(spool: MailSpool, from: String, forDelivery: Bool, publicURL: String? = nil) {
        self.spool = spool
        self.from = from
        self.forDelivery = forDelivery
        self.publicURL = publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// Metadata kinds.
    static let approvedKind = "verdict.approved"
    static let rejectedKind = "verdict.rejected"

    // MARK: - Messages

    /// "Approved": subscriber ID, organisation number, signature (mailed once) and next steps.
    public func approvedMessage(_ application: Application, _ approval: ApplicationService.Approval) -> MailMessage {
        let base = publicURL ?? "https://TOLLGATE-HOST:8443"
        let converters = application.converters.map(\.name)
        let example = converters.first ?? "CONVERTER"
        var steps = [
            "Keep the signature secret: Tollgate stores only a salted hash and cannot show it again. It is your password for EST enrolment and LDAP binds as \(approval.subscriberId).",
            "Fetch Tollgate's CA certificates: \(base)/pki/ca.pem (or: pki --estca --url \(base) --cacert root-ca.pem --caout ca.pem).",
            "Enrol each converter (\(converters.joined(separator: ", "))) over EST with a CSR whose CN is the converter's name: pki --est --url \(base) --in \(example).csr --cacert root-ca.pem --userpass \(approval.subscriberId):SIGNATURE > \(example).der",
            "Renew certificates before they expire with EST re-enrolment (pki --est --cert \(example).der --key \(example).key …).",
        ]
        steps.append("Application \(application.id): status at \(base)/v1/applications/\(application.id) with your status token.")
        return VerdictMail.approved(
            from: from, to: [application.mail], organisation: application.name, subscriberID: approval.subscriberId,
            credentials: [(label: "Organisation number", value: approval.orgNumber), (label: "Signature", value: approval.signature)],
            nextSteps: steps)
    }

    /// "Rejected" with `reason` (an operator's text or the failed rule).
    public func rejectedMessage(_ application: Application, reason: String) -> MailMessage {
        VerdictMail.rejected(from: from, to: [application.mail], organisation: application.name,
                             reason: "\(reason) (application \(application.id))")
    }

    // MARK: - Spool

    /// Writes `message` to `held/`.
    func hold(_ message: MailMessage, kind: String, application: Application, orgNumber: String? = nil) async throws(SubscriptionError) -> SpoolEntry {
        var metadata = ["kind": kind, "applicationId": application.id]
        if let orgNumber { metadata["orgNumber"] = orgNumber }
        do {
            return try await spool.hold(message, metadata: metadata)
        } catch {
            throw .mail("\(error)")
        }
    }

    /// Moves a held mail on (pending or outbox).
    func release(_ entry: SpoolEntry) async throws -> SpoolEntry {
        try await spool.release(entry, forDelivery: forDelivery)
    }

    /// Removes a held mail whose verdict was not committed.
    func discard(_ entry: SpoolEntry?, logger: Logger) async {
        guard let entry else { return }
        do {
            try await spool.discard(entry)
        } catch {
            logger.warning("could not discard held mail", metadata: ["id": "\(entry.id)", "error": "\(error)"])
        }
    }

    /// Where a released mail now is.
    func path(of entry: SpoolEntry) -> String {
        (forDelivery ? spool.pendingDirectory : spool.outbox).appendingPathComponent("\(entry.id).eml").path
    }

    // MARK: - For the server's MailDelivery

    /// Decides about held verdict mail whose writer died: release it when the directory
    /// shows its verdict (the application approved with the mail's organisation number,
    /// or rejected), discard it otherwise; keep it while the directory cannot be read.
    public static func heldResolver(applications: ApplicationService) -> @Sendable (SpoolEntry) async -> HeldMailDecision {
        { entry in
            guard let id = entry.metadata?["applicationId"], let kind = entry.metadata?["kind"] else { return .release }
            let application: Application?
            do {
                application = try await applications.application(id: id)
            } catch {
                return .keep
            }
            guard let application else { return .discard }
            switch kind {
            case approvedKind:
                return application.state == "approved" && application.orgNumber == entry.metadata?["orgNumber"] ? .release : .discard
            case rejectedKind:
                return application.state == "rejected" ? .release : .discard
            default:
                return .release
            }
        }
    }

    /// Records delivery events in the history: `mail.sent`, `mail.outbox`, `mail.released`,
    /// `mail.discarded`, under the tenant when the mail names one that exists.
    public static func historyHandler(_ history: HistoryRecorder) -> @Sendable (MailDeliveryEvent) async -> Void {
        { event in
            let (type, entry): (String, SpoolEntry)
            switch event {
            case .sent(let e): (type, entry) = ("mail.sent", e)
            case .movedToOutbox(let e): (type, entry) = ("mail.outbox", e)
            case .released(let e): (type, entry) = ("mail.released", e)
            case .discarded(let e): (type, entry) = ("mail.discarded", e)
            }
            var data = ["mailId": entry.id, "to": entry.to.joined(separator: ","), "subject": entry.subject,
                        "attempts": String(entry.attempts)]
            for key in ["kind", "applicationId"] { data[key] = entry.metadata?[key] }
            // A discarded approval mail names a tenant that was never made.
            let org: String? = {
                if case .discarded = event { return nil }
                return entry.metadata?["orgNumber"]
            }()
            await history.record(type, orgNumber: org, actor: "system", data: data)
        }
    }
}
