import Synchronization

/// A process-wide hook told about every pooled LDAP operation (search, read, add, modify,
/// delete, compare, password modify, who-am-I): how long it took and, when it failed,
/// its result code. `tollgate serve` installs one that feeds Prometheus metrics, so this
/// module needs no metrics library. Without an observer the cost is one uncontended lock.
public enum LDAPOperationObserver {
    /// Called after each operation with its duration and nil (success) or the failure's
    /// result code (`localError` for errors that are not ``LDAPError``). Must be cheap and
    /// must not block.
    public typealias Callback = @Sendable (_ duration: Duration, _ failure: LDAPResultCode?) -> Void

    private static let current = Mutex<Callback?>(nil)

    /// Installs (or with nil removes) the observer.
    public static func install(_ callback: Callback?) {
        current.withLock { $0 = callback }
    }

    static var callback: Callback? { current.withLock { $0 } }

    /// Runs `body`, reporting its duration and outcome to the observer, if any.
    @inline(__always)
    static func observe<T>(_ body: () async throws -> T) async throws -> T {
        guard let callback else { return try await body() }
        let started = ContinuousClock.now
        do {
            let result = try await body()
            callback(started.duration(to: .now), nil)
            return result
        } catch {
            callback(started.duration(to: .now), (error as? LDAPError)?.code ?? .localError)
            throw error
        }
    }
}
