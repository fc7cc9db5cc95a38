import Foundation
import Synchronization

/// The access service's in-memory copy of the directory: every tenant's destinations
/// (as ``TenantPolicy``), the converters' current certificate serials and the revoked
/// serials, kept current by ``ContentSyncSession`` (RFC 4533).
///
/// Readers (request handlers) take a lock only for a dictionary lookup; the
/// synchronisation thread replaces a tenant's policy as a whole. A long-poll waits with
/// ``waitForChange(org:from:timeout:)`` and is woken when the tenant's version changes.
public final class PolicyReplica: Sendable {
    /// How long answers may come from the last synced state after the directory went away.
    public let staleBound: Double

    /// Changes the synchronisation thread publishes together.
    struct Update: Sendable {
        var tenants: [String: TenantPolicy] = [:]
        /// serial → identity, or nil to remove.
        var identities: [String: ConverterIdentity?] = [:]
        /// serial → true (revoked) or false (record removed).
        var revoked: [String: Bool] = [:]
        /// org → the subscriber's tgState, or nil when its entry is gone.
        var tenantStates: [String: String?] = [:]

        var isEmpty: Bool { tenants.isEmpty && identities.isEmpty && revoked.isEmpty && tenantStates.isEmpty }
    }

    private struct State {
        var tenants: [String: TenantPolicy] = [:]
        var identities: [String: ConverterIdentity] = [:]
        var revoked: Set<String> = []
        /// Tenants whose subscriber is not active, with that state.
        var inactiveTenants: [String: String] = [:]
        var everSynced = false
        var connected = false
        var lostAt: ContinuousClock.Instant?
        var lastError = "the first synchronisation with the directory has not finished"
        var waiters: [String: [UInt64: CheckedContinuation<Bool, Never>]] = [:]
        var nextWaiter: UInt64 = 0
        var updates = 0
    }
    private let state = Mutex(State())
    private static let emptyVersion = TenantPolicy.empty("").version

    public init(staleBound: Double) {
        self.staleBound = max(0, staleBound)
    }

    // MARK: - Reading

    /// The tenant's policy (empty when it has no destinations).
    public func policy(_ org: String) -> TenantPolicy {
        state.withLock { $0.tenants[org] } ?? TenantPolicy.empty(org)
    }

    /// Tenants with at least one destination.
    public var tenantCount: Int { state.withLock { $0.tenants.count } }

    /// What the serial of a client certificate stands for.
    public func certificateStatus(serial: String) -> CertificateStatus {
        state.withLock { state in
            if state.revoked.contains(serial) { return .revoked }
            guard let identity = state.identities[serial] else { return .unknown }
            if identity.state == "revoked" { return .revoked }
            if let tenantState = state.inactiveTenants[identity.org] { return .tenantInactive(org: identity.org, state: tenantState) }
            return .valid(identity)
        }
    }

    public func freshness(now: ContinuousClock.Instant = .now) -> ReplicaFreshness {
        state.withLock { state in
            if state.connected && state.everSynced { return .fresh }
            guard state.everSynced else { return .unavailable(state.lastError) }
            let age = state.lostAt.map { (now - $0) / .seconds(1) } ?? 0
            if age <= staleBound { return .stale(age: age) }
            return .unavailable("the directory has been unreachable for \(Int(age)) s (longer than the \(Int(staleBound)) s bound): \(state.lastError)")
        }
    }

    /// Whether a first refresh has completed (since then there is a state to answer from).
    public var hasSynced: Bool { state.withLock { $0.everSynced } }

    /// Published updates so far (tests, diagnostics).
    public var updateCount: Int { state.withLock { $0.updates } }

    // MARK: - Long-poll

    /// Waits until the tenant's version differs from `version` (true) or `timeout`
    /// passes or the task is cancelled (false). Returns at once if it differs already.
    public func waitForChange(org: String, from version: String, timeout: Duration) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let changed = state.withLock { state -> Bool in
                    if (state.tenants[org]?.version ?? Self.emptyVersion) != version { return true }
                    state.waiters[org, default: [:]][id] = continuation
                    return false
                }
                if changed {
                    continuation.resume(returning: true)
                    return
                }
                Task {
                    try? await Task.sleep(for: timeout)
                    self.resumeWaiter(org: org, id: id, changed: false)
                }
            }
        } onCancel: {
            self.resumeWaiter(org: org, id: id, changed: false)
        }
    }

    private func resumeWaiter(org: String, id: UInt64, changed: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            let waiter = state.waiters[org]?.removeValue(forKey: id)
            if state.waiters[org]?.isEmpty == true { state.waiters[org] = nil }
            return waiter
        }
        waiter?.resume(returning: changed)
    }

    // MARK: - Writing (the synchronisation thread)

    func apply(_ update: Update) {
        guard !update.isEmpty else { return }
        var woken: [CheckedContinuation<Bool, Never>] = []
        state.withLock { state in
            state.updates += 1
            for (org, policy) in update.tenants {
                let old = state.tenants[org]?.version ?? Self.emptyVersion
                state.tenants[org] = policy.rules.isEmpty ? nil : policy
                if policy.version != old, let waiters = state.waiters.removeValue(forKey: org) {
                    woken += waiters.values
                }
            }
            for (serial, identity) in update.identities {
                state.identities[serial] = identity
            }
            for (serial, revoked) in update.revoked {
                if revoked { state.revoked.insert(serial) } else { state.revoked.remove(serial) }
            }
            for (org, tenantState) in update.tenantStates {
                state.inactiveTenants[org] = tenantState == "active" ? nil : tenantState
            }
        }
        for waiter in woken { waiter.resume(returning: true) }
    }

    /// The refresh phase is done and changes now arrive as they happen.
    func markSynced() {
        state.withLock { state in
            state.everSynced = true
            state.connected = true
            state.lostAt = nil
        }
    }

    /// The synchronisation connection is down (or could not be opened).
    func markDisconnected(_ reason: String) {
        state.withLock { state in
            if state.connected || state.lostAt == nil { state.lostAt = .now }
            state.connected = false
            state.lastError = reason
        }
    }
}
