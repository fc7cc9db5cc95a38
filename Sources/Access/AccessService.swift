import Directory
import Foundation
import Logging
import Metrics

/// The converter-facing access decisions, independent of HTTP: authentication of a
/// client certificate against the replica, decisions, freshness and history.
public struct AccessService: Sendable {
    public let replica: PolicyReplica
    public let resolver: HostResolver
    public let history: AccessHistory?
    /// Seconds a converter may cache an answer (`ttl`), before validity edges and the
    /// stale bound shorten it.
    public let ttl: Int
    public let logger: Logger
    /// `tollgate_access_decisions_total{allow="true"|"false"}`, made once (cheap on the hot path).
    let allowedCounter: Counter
    let refusedCounter: Counter

    public init(replica: PolicyReplica, resolver: HostResolver = HostResolver(), history: AccessHistory?, ttl: Int = 60,
                logger: Logger = Logger(label: "tollgate.access")) {
        self.replica = replica
        self.resolver = resolver
        self.history = history
        self.ttl = max(0, ttl)
        self.logger = logger
        allowedCounter = Counter(label: "tollgate_access_decisions_total", dimensions: [("allow", "true")])
        refusedCounter = Counter(label: "tollgate_access_decisions_total", dimensions: [("allow", "false")])
    }

    /// One answer with the context it was given in.
    public struct Answer: Sendable {
        public var request: CheckRequest
        public var decision: AccessDecision
        public var ttl: Int
        public var stale: Bool
        public var policyVersion: String
    }

    /// Whether the replica may answer: false when fresh, true when stale within the
    /// bound; throws 503 (fail closed) otherwise.
    public func requireUsableReplica() throws(AccessAPIError) -> ReplicaFreshness {
        let freshness = replica.freshness()
        if case .unavailable(let why) = freshness {
            throw .unavailable("access decisions are refused while the directory is unavailable: \(why); retry later")
        }
        return freshness
    }

    /// The converter a client certificate (its serial, lower-case hex) belongs to.
    public func authenticate(serial: String?) throws(AccessAPIError) -> ConverterIdentity {
        guard let serial else {
            throw .unauthorized("present your converter certificate (issued by Tollgate's CA) as TLS client certificate")
        }
        switch replica.certificateStatus(serial: serial) {
        case .valid(let identity):
            return identity
        case .revoked:
            throw .unauthorized("certificate \(serial) is revoked; enrol again with your subscriber credentials")
        case .unknown:
            throw .unauthorized("certificate \(serial) is not the current certificate of any converter; use the latest certificate EST issued")
        case .tenantInactive(let org, let state):
            throw .forbidden("subscriber \(org) is \(state); its converters get no access answers until an operator sets it active")
        }
    }

    /// Decides `requests` for `identity` from one snapshot of its tenant's policy.
    public func check(_ requests: [CheckRequest], for identity: ConverterIdentity, freshness: ReplicaFreshness) async -> [Answer] {
        let policy = replica.policy(identity.org)
        let now = Date()
        var answers: [Answer] = []
        answers.reserveCapacity(requests.count)
        for request in requests {
            let decision: AccessDecision
            if let address = request.address {
                decision = policy.decide(addresses: [address], query: request.query, now: now)
            } else {
                do {
                    let addresses = try await resolver.resolve(request.destination)
                    decision = policy.decide(addresses: addresses, query: request.query, now: now)
                } catch {
                    decision = AccessDecision(refused: "\(error)")
                }
            }
            answers.append(answer(request, decision, identity: identity, policy: policy, freshness: freshness, now: now))
        }
        return answers
    }

    /// Decides requests whose destinations are all addresses without suspending (the
    /// event-loop fast path), in order, like ``check(_:for:freshness:)``; nil (and nothing
    /// recorded) when one names a host and needs the resolver.
    public func checkImmediately(_ requests: [CheckRequest], for identity: ConverterIdentity, freshness: ReplicaFreshness) -> [Answer]? {
        guard requests.allSatisfy({ $0.address != nil }) else { return nil }
        let policy = replica.policy(identity.org)
        let now = Date()
        return requests.compactMap { request in
            request.address.map { address in
                answer(request, policy.decide(addresses: [address], query: request.query, now: now), identity: identity,
                       policy: policy, freshness: freshness, now: now)
            }
        }
    }

    /// The answer's ttl (shortened by validity edges and the stale bound) and its history record.
    private func answer(_ request: CheckRequest, _ decision: AccessDecision, identity: ConverterIdentity, policy: TenantPolicy,
                        freshness: ReplicaFreshness, now: Date) -> Answer {
        var seconds = decision.addresses.isEmpty ? 0 : ttl
        if let edge = decision.changesAt { seconds = min(seconds, max(0, Int(edge.timeIntervalSince(now).rounded(.up)))) }
        if case .stale(let age) = freshness { seconds = min(seconds, max(0, Int(replica.staleBound - age))) }
        history?.record(identity, destination: request.destination, query: request.query, decision: decision, now: now)
        (decision.allow ? allowedCounter : refusedCounter).increment()
        return Answer(request: request, decision: decision, ttl: seconds, stale: freshness.isStale, policyVersion: policy.version)
    }
}
