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

    /// The callback in a class box: a bare closure stored in a generic `Mutex` and read back
    /// through `withLock`'s `inout` was re-wrapped in reabstraction thunks on every read —
    /// the stored closure grew one layer per LDAP operation until a long-running server
    /// spent its cores calling through the chain. A reference never changes on reading.
    private final class Box: Sendable {
        let callback: Callback
        init(_ callback: @escaping Callback) { self.callback = callback }
    }

    private static let current = Mutex<Box?>(nil)

    /// Installs (or with nil removes) the observer.
    public static func install(_ callback: Callback?) {
        let box = callback.map(Box.init)
        current.withLock { $0 = box }
    }

    static var callback: Callback? { current.withLock { $0 }?.callback }

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
