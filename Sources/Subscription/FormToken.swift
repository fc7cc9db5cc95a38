import Crypto
import Foundation
import Synchronization

/// The anti-CSRF token of the `/apply` form: issued with every rendering, required with
/// every POST, valid for ``lifetime`` and used at most once.
///
/// A token is `base64url(time ‖ nonce ‖ HMAC-SHA256(key, "tollgate-apply" ‖ time ‖
/// nonce)[0..<16])` (8-byte time, 8 random bytes, so every rendering has its own) with a
/// key that lives only in this process (a restart invalidates open forms; the form then
/// comes back with the values kept and a new token). Nothing is stored per rendering;
/// tokens that were used are remembered until they expire, so a reloaded
/// acknowledgement page cannot file a second application.
final class FormToken: Sendable {
    static let lifetime: TimeInterval = 2 * 3600
    private let key = SymmetricKey(size: .bits256)
    private let used = Mutex<[String: Date]>([:])

    enum Check: Equatable { case valid, invalid, expired, used }

    func issue(now: Date = Date()) -> String {
        let time = UInt64(now.timeIntervalSince1970)
        let signed = withUnsafeBytes(of: time.bigEndian) { Array($0) } + Secrets.randomBytes(8)
        return Secrets.base64URL(signed + mac(signed))
    }

    /// Checks `token` and, when valid, marks it used.
    func redeem(_ token: String, now: Date = Date()) -> Check {
        guard let bytes = Self.decode(token), bytes.count == 32 else { return .invalid }
        let signed = Array(bytes[0..<16])
        let expected = mac(signed)
        guard zip(expected, bytes[16...]).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else { return .invalid }
        let issued = Date(timeIntervalSince1970: TimeInterval(signed[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
        guard issued.timeIntervalSince(now) < 60 else { return .invalid }
        guard now.timeIntervalSince(issued) <= Self.lifetime else { return .expired }
        return used.withLock { used in
            used = used.filter { now.timeIntervalSince($0.value) <= Self.lifetime }
            if used[token] != nil { return .used }
            used[token] = issued
            return .valid
        }
    }

    private func mac(_ signed: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array("tollgate-apply".utf8) + signed, using: key).prefix(16))
    }

    static func decode(_ text: String) -> [UInt8]? {
        guard text.count <= 64 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
