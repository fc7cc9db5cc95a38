/// Runs tenant-creating LDAP transactions of this process one at a time.
///
/// slapd 2.5.13 (Debian 12) was seen to die when several RFC 5805 transactions run at
/// once on different connections; approvals are rare, so serialising them costs nothing.
actor TransactionGate {
    static let shared = TransactionGate()
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        while busy { await withCheckedContinuation { waiters.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiters.isEmpty { waiters.removeFirst().resume() }
        }
        return try await body()
    }
}
