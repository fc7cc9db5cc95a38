import Directory
import Foundation
import LDAPClient
import Logging

/// Subscription applications: intake, automatic review, status, operator decisions and
/// approval into a new tenant.
///
/// Mail and the web form plug in on top: ``submit(_:)`` returns what an acknowledgement
/// needs (ID and token), ``approve(id:actor:)`` what a welcome mail needs.
public struct ApplicationService: Sendable {
    public let store: DirectoryStore
    public let rules: ReviewRules
    public let logger: Logger

    public init(store: DirectoryStore, rules: ReviewRules = .default, logger: Logger = Logger(label: "tollgate.subscription")) {
        self.store = store
        self.rules = rules
        self.logger = logger
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
    /// (and the verdict) in the global history.
    public func submit(_ request: ApplicationRequest) async throws(SubscriptionError) -> Submission {
        let id = Secrets.applicationID()
        let token = Secrets.statusToken()
        var application = try request.application(id: id, tokenHash: Secrets.hashToken(token))
        let violation = rules.violation(of: application)
        if let violation {
            application.state = "rejected"
            application.verdictReason = violation
        }
        try await directory("store application \(id)") {
            try await store.client.add(dn(id), attributes: application.entryAttributes)
        }
        await record("application.received", id: id, data: ["organisation": application.name, "state": application.state])
        if let violation { await record("application.rejected", id: id, data: ["reason": violation]) }
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
    public func status(id: String, token: String) async throws(SubscriptionError) -> Application? {
        guard let application = try await application(id: id), let hash = application.statusTokenHash,
              Secrets.verifyToken(token, against: hash) else { return nil }
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

    /// Rejects a pending application with `reason` (shown to the applicant).
    public func reject(id: String, reason: String, actor: String = "operator") async throws(SubscriptionError) {
        guard !reason.isEmpty, reason.count <= 1024 else {
            throw .invalidField(InvalidFieldError(field: "reason", message: "give a reason of 1 to 1024 characters"))
        }
        guard let application = try await application(id: id) else { throw .notFound(id) }
        guard application.state == "pending" else { throw .alreadyDecided(id, state: application.state) }
        do {
            try await store.client.modify(dn(id), [.delete("tgState", ["pending"]), .add("tgState", ["rejected"]),
                                                   .replace("tgVerdictReason", [reason])])
        } catch let error as LDAPError where error.code == .noSuchAttribute {
            throw .alreadyDecided(id, state: "decided")
        } catch {
            throw .directory("reject application \(id): \(error)")
        }
        await record("application.rejected", id: id, actor: actor, data: ["reason": reason])
    }

    /// Approves a pending application: issues an organisation number and subscriber ID
    /// and creates the tenant (see ``TenantCreation``); returns the credentials once.
    public func approve(id: String, actor: String = "operator", reason: String = "approved by an operator") async throws(SubscriptionError) -> Approval {
        guard let application = try await application(id: id) else { throw .notFound(id) }
        guard application.state == "pending" else { throw .alreadyDecided(id, state: application.state) }
        let approval = try await TenantCreation(store: store, application: application, reason: reason, logger: logger).run()
        await record("application.approved", id: id, actor: actor, data: ["orgNumber": approval.orgNumber, "subscriberId": approval.subscriberId])
        do {
            try await store.record(HistoryEvent(type: "subscriber.added", orgNumber: approval.orgNumber, actor: actor,
                                                data: Self.json(["applicationId": id])))
        } catch {
            logger.warning("could not record subscriber.added", metadata: ["org": "\(approval.orgNumber)", "error": "\(error)"])
        }
        return approval
    }

    // MARK: - Helpers

    /// IDs are `app-` and hex; anything else cannot exist (and never reaches a DN).
    static func plausibleID(_ id: String) -> Bool {
        id.count <= 64 && id.hasPrefix("app-") && id.dropFirst(4).allSatisfy { $0.isASCII && $0.isHexDigit }
    }

    func record(_ type: String, id: String, actor: String = "system", data: [String: String]) async {
        var fields = data
        fields["applicationId"] = id
        do {
            try await store.record(HistoryEvent(type: type, actor: actor, data: Self.json(fields)))
        } catch {
            logger.warning("could not record \(type)", metadata: ["application": "\(id)", "error": "\(error)"])
        }
    }

    static func json(_ fields: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(fields)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

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
