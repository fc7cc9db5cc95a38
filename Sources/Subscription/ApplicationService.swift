import Directory
import Foundation
import LDAPClient
import Logging
import Mail

/// Subscription applications: intake, automatic review, status, operator decisions and
/// approval into a new tenant, with verdict mails and history.
///
/// History (store 204): `application.received`, `application.rejected`,
/// `application.approved` in the global history (by application ID); the new tenant's
/// history starts with `application.received`, `application.approved`,
/// `credentials.issued` and `subscriber.added` (in the tenant's transaction); status
/// reads add `api.application.status`, verdict mails `mail.spooled` (and the server's
/// delivery `mail.sent`), under the tenant once there is one.
public struct ApplicationService: Sendable {
    public let store: DirectoryStore
    public let rules: ReviewRules
    public let logger: Logger
    public let history: HistoryRecorder
    /// Verdict mails; nil sends none.
    public let mailer: ApplicationMailer?

    /// - Parameters:
    ///   - writer: Batches history writes (the server's hot paths); nil writes them at once.
    ///   - mailer: Where verdict mails go; nil sends none.
    public init(store: DirectoryStore, rules: ReviewRules = .default, logger: Logger = Logger(label: "tollgate.subscription"),
                writer: BatchedWriter? = nil, mailer: ApplicationMailer? = nil) {
        self.store = store
        self.rules = rules
        self.logger = logger
        self.history = HistoryRecorder(store: store, writer: writer, logger: logger)
        self.mailer = mailer
    }

    /// The outcome of an intake.
    public struct Submission: Sendable, Codable {
        public var id: String
        /// The status token, shown once; only its salted hash is stored.
        public var statusToken: String
        public var state: String
        public var verdictReason: String?
        /// Credentials when the rules approved the application automatically.
        public var credentials: Approval?
    }

    /// A new tenant's credentials, returned once.
    public struct Approval: Sendable, Codable {
        public var applicationId: String
        public var orgNumber: String
        public var subscriberId: String
        /// The signature (password); only slapd's salted hash is stored.
        public var signature: String
    }

    func dn(_ id: String) -> DistinguishedName { store.layout.applications.child("tgApplicationId", id) }

    // MARK: - Intake

    /// Validates, reviews and stores an application; records `application.received`
    /// (and the verdict) in the global history. A rule rejection is mailed.
    public func submit(_ request: ApplicationRequest) async throws(SubscriptionError) -> Submission {
        let id = Secrets.applicationID()
        let token = Secrets.statusToken()
        var application = try request.application(id: id, tokenHash: Secrets.hashToken(token))
        let violation = rules.violation(of: application)
        var held: SpoolEntry?
        if let violation {
            application.state = "rejected"
            application.verdictReason = violation
            if let mailer {
                held = try await mailer.hold(mailer.rejectedMessage(application, reason: violation),
                                             kind: ApplicationMailer.rejectedKind, application: application)
            }
        }
        do {
            try await directory("store application \(id)") {
                try await store.client.add(dn(id), attributes: application.entryAttributes)
            }
        } catch {
            await mailer?.discard(held, logger: logger)
            throw error
        }
        await record("application.received", id: id, data: ["organisation": application.name, "state": application.state])
        if let violation {
            await record("application.rejected", id: id, data: ["reason": violation])
            await release(held, application: application, orgNumber: nil)
        }
        var submission = Submission(id: id, statusToken: token, state: application.state, verdictReason: violation)
        if violation == nil && rules.autoApprove {
            let approval = try await approve(id: id, actor: "system", reason: "all review rules passed (automatic approval)")
            submission.state = "approved"
            submission.verdictReason = "all review rules passed (automatic approval)"
            submission.credentials = approval
        }
        return submission
    }

    // MARK: - Reading

    /// One application, or nil.
    public func application(id: String) async throws(SubscriptionError) -> Application? {
        guard Self.plausibleID(id) else { return nil }
        return try await directory("read application \(id)") {
            guard let entry = try await store.client.read(dn(id)), entry.hasObjectClass("tgApplication") else { return nil }
            return try Application(entry: entry)
        }
    }

    /// The application if `token` is its status token; nil otherwise (unknown ID and
    /// wrong token look the same).
    ///
    /// Records `api.application.status` (under the tenant once approved), batched when
    /// the service has a writer.
    public func status(id: String, token: String) async throws(SubscriptionError) -> Application? {
        guard let application = try await application(id: id), let hash = application.statusTokenHash,
              Secrets.verifyToken(token, against: hash) else { return nil }
        await history.record("api.application.status", orgNumber: application.orgNumber, actor: "applicant",
                             data: ["applicationId": id, "state": application.state])
        return application
    }

    /// Every application, newest first, optionally in one state.
    public func applications(state: String? = nil) async throws(SubscriptionError) -> [Application] {
        try await directory("list applications") {
            var filter: [LDAPFilter] = [.equal("objectClass", "tgApplication")]
            if let state { filter.append(.equal("tgState", state)) }
            do {
                return try await store.client.search(base: store.layout.applications, scope: .oneLevel, filter: .and(filter))
                    .map { try Application(entry: $0) }.sorted { $0.received > $1.received }
            } catch let error as LDAPError where error.code == .noSuchObject {
                return []
            }
        }
    }

    // MARK: - Decisions

    /// Rejects a pending application with `reason` (shown to the applicant and mailed).
    /// Returns the verdict mail's spool entry, if one was written.
    @discardableResult
    public func reject(id: String, reason: String, actor: String = "operator") async throws(SubscriptionError) -> SpoolEntry? {
        guard !reason.isEmpty, reason.count <= 1024 else {
            throw .invalidField(InvalidFieldError(field: "reason", message: "give a reason of 1 to 1024 characters"))
        }
        guard reason.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control }) else {
            throw .invalidField(InvalidFieldError(field: "reason", message: "contains a control character (line breaks included)"))
        }
        guard let application = try await application(id: id) else { throw .notFound(id) }
        guard application.state == "pending" else { throw .alreadyDecided(id, state: application.state) }
        var held: SpoolEntry?
        if let mailer {
            held = try await mailer.hold(mailer.rejectedMessage(application, reason: reason),
                                         kind: ApplicationMailer.rejectedKind, application: application)
        }
        do {
            try await store.client.modify(dn(id), [.delete("tgState", ["pending"]), .add("tgState", ["rejected"]),
                                                   .replace("tgVerdictReason", [reason])])
        } catch let error as LDAPError where error.code == .noSuchAttribute {
            await mailer?.discard(held, logger: logger)
            throw .alreadyDecided(id, state: "decided")
        } catch {
            await mailer?.discard(held, logger: logger)
            throw .directory("reject application \(id): \(error)")
        }
        await record("application.rejected", id: id, actor: actor, data: ["reason": reason])
        return await release(held, application: application, orgNumber: nil)
    }

    /// Approves a pending application: issues an organisation number and subscriber ID
    /// and creates the tenant (see ``TenantCreation``); returns the credentials once.
    public func approve(id: String, actor: String = "operator", reason: String = "approved by an operator") async throws(SubscriptionError) -> Approval {
        try await approveAndMail(id: id, actor: actor, reason: reason).approval
    }

    /// ``approve(id:actor:reason:)`` that also returns the verdict mail's spool entry.
    ///
    /// The mail (with the signature) is held in the spool before the tenant's
    /// transaction, released after its commit and discarded if it fails.
    public func approveAndMail(id: String, actor: String = "operator",
                               reason: String = "approved by an operator") async throws(SubscriptionError) -> (approval: Approval, mail: SpoolEntry?) {
        guard let application = try await application(id: id) else { throw .notFound(id) }
        guard application.state == "pending" else { throw .alreadyDecided(id, state: application.state) }
        let creation = TenantCreation(store: store, application: application, reason: reason, actor: actor, logger: logger)
        for _ in 1...TenantCreation.maximumAttempts {
            let org = try await creation.allocate()
            let approval = Approval(applicationId: id, orgNumber: org, subscriberId: "\(org)-01", signature: Secrets.signature())
            var held: SpoolEntry?
            if let mailer {
                held = try await mailer.hold(mailer.approvedMessage(application, approval), kind: ApplicationMailer.approvedKind,
                                             application: application, orgNumber: org)
            }
            let committed: Bool
            do {
                committed = try await creation.commit(org: org, signature: approval.signature)
            } catch {
                await mailer?.discard(held, logger: logger)
                throw error
            }
            guard committed else {
                // A tenant with this number was made outside the counter: take the next.
                await mailer?.discard(held, logger: logger)
                continue
            }
            await record("application.approved", id: id, actor: actor, data: ["orgNumber": org, "subscriberId": approval.subscriberId])
            let mail = await release(held, application: application, orgNumber: org)
            return (approval, mail)
        }
        throw .directory("every organisation number tried exists already; check \(creation.counterDN) against ou=subscribers")
    }

    /// Releases a held verdict mail after its verdict was committed and records
    /// `mail.spooled`. If the release fails the mail stays held; a server releases it once
    /// this process has ended.
    @discardableResult
    func release(_ held: SpoolEntry?, application: Application, orgNumber: String?) async -> SpoolEntry? {
        guard let held, let mailer else { return nil }
        do {
            let released = try await mailer.release(held)
            await history.record("mail.spooled", orgNumber: orgNumber, actor: "system", data: [
                "mailId": released.id, "kind": released.metadata?["kind"] ?? "", "applicationId": application.id,
                "to": released.to.joined(separator: ","), "subject": released.subject,
                "queue": mailer.forDelivery ? "pending" : "outbox"])
            return released
        } catch {
            logger.error("verdict mail stays held (a server releases it)", metadata: ["id": "\(held.id)", "error": "\(error)"])
            return held
        }
    }

    // MARK: - Helpers

    /// IDs are `app-` and hex; anything else cannot exist (and never reaches a DN).
    static func plausibleID(_ id: String) -> Bool {
        id.count <= 64 && id.hasPrefix("app-") && id.dropFirst(4).allSatisfy { $0.isASCII && $0.isHexDigit }
    }

    func record(_ type: String, id: String, actor: String = "system", data: [String: String]) async {
        var fields = data
        fields["applicationId"] = id
        await history.record(type, actor: actor, data: fields)
    }

    static func json(_ fields: [String: String]) -> String { HistoryRecorder.json(fields) }

    func directory<T: Sendable>(_ what: String, _ body: () async throws -> T) async throws(SubscriptionError) -> T {
        do {
            return try await body()
        } catch let error as SubscriptionError {
            throw error
        } catch {
            throw .directory("\(what): \(error)")
        }
    }
}
