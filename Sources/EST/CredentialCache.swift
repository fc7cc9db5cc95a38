import Crypto
import Foundation
import Synchronization

/// Remembers, for a short time, that a subscriber's signature was right, so that a fleet
/// enrolling at once does not cost one LDAP connection and bind per converter.
///
/// Only successes are kept, as an HMAC-SHA256 of the signature under a key made at
/// start (never the signature itself), per subscriber DN. A wrong signature never
/// matches, so it always goes to slapd, whose password policy counts it; a locked or
/// changed subscriber is dropped by ``forget(_:)`` (the enrolment service does it when
/// it sees the lockout). A signature changed by another process stays usable here for at
/// most ``ttl`` seconds.
public final class CredentialCache: Sendable {
    /// Seconds a verified signature is trusted without a new bind; 0 disables the cache.
    public let ttl: TimeInterval
    /// The most subscribers remembered at once.
    public let capacity: Int
    private let key = SymmetricKey(size: .bits256)
    private let entries = Mutex<[String: (mac: Data, expires: Date)]>([:])

    public init(ttl: TimeInterval = 60, capacity: Int = 100_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    private func mac(_ dn: String, _ password: String) -> Data {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: Data(dn.utf8))
        hmac.update(data: [0])
        hmac.update(data: Data(password.utf8))
        return Data(hmac.finalize())
    }

    /// True if `password` was verified for `dn` less than ``ttl`` seconds ago.
    public func isVerified(dn: String, password: String, now: Date = Date()) -> Bool {
        guard ttl > 0 else { return false }
        guard let entry = entries.withLock({ $0[dn] }), entry.expires > now else { return false }
        let candidate = mac(dn, password)
        guard candidate.count == entry.mac.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(candidate, entry.mac) { difference |= a ^ b }
        return difference == 0
    }

    /// Records a successful bind of `dn` with `password`.
    public func remember(dn: String, password: String, now: Date = Date()) {
        guard ttl > 0 else { return }
        let value = (mac(dn, password), now.addingTimeInterval(ttl))
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value.expires > now } }
            if entries.count < capacity { entries[dn] = value }
        }
    }

    /// Drops what is known about `dn` (locked, suspended, signature changed).
    public func forget(_ dn: String) {
        entries.withLock { _ = $0.removeValue(forKey: dn) }
    }
}
