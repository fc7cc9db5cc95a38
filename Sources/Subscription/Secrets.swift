import Crypto
import Directory
import Foundation

/// Random identifiers and secrets, and the salted hash of status tokens.
public enum Secrets {
    /// `count` random bytes from the system's cryptographic generator.
    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// URL-safe base64 without padding.
    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// An application ID: `app-` and 20 hex digits (80 bits).
    public static func applicationID() -> String { "app-" + Hex.encode(randomBytes(10)) }

    /// A status token (256 bits).
    public static func statusToken() -> String { base64URL(randomBytes(32)) }

    /// A subscriber signature (192 bits, 32 characters).
    public static func signature() -> String { base64URL(randomBytes(24)) }

    /// `{SSHA512}` of `password` as slapd's pw-sha2 module writes and checks it: base64 of
    /// SHA-512(password ‖ salt) ‖ salt with an 8-byte random salt. Lets a new tenant's
    /// signature be part of the tenant's LDAP transaction; slapd verifies it on bind.
    public static func ssha512(_ password: String) -> String {
        let salt = randomBytes(8)
        let digest = SHA512.hash(data: Array(password.utf8) + salt)
        return "{SSHA512}" + Data(Array(digest) + salt).base64EncodedString()
    }

    /// `sha256$SALT$HASH` (hex) of `token` with a fresh 16-byte salt.
    public static func hashToken(_ token: String) -> String {
        let salt = randomBytes(16)
        return "sha256$\(Hex.encode(salt))$\(Hex.encode(SHA256.hash(data: salt + Array(token.utf8))))"
    }

    /// True when `token` matches `stored` (a ``hashToken(_:)`` value); constant time in
    /// the hash comparison.
    public static func verifyToken(_ token: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$")
        guard parts.count == 3, parts[0] == "sha256", let salt = Hex.decode(parts[1]), let given = Hex.decode(parts[2]) else {
            return false
        }
        // Digest == bytes compares in constant time (swift-crypto's safeCompare).
        return SHA256.hash(data: salt + Array(token.utf8)) == given
    }
}
