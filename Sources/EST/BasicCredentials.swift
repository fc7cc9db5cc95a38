import Foundation

/// HTTP Basic credentials (RFC 7617): for EST, the subscriber ID and its signature.
public struct BasicCredentials: Sendable, Equatable {
    public var user: String
    public var password: String

    /// Parses an `Authorization` header value; nil if it is not well-formed Basic.
    public init?(authorization: String) {
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        user = String(text[..<colon])
        password = String(text[text.index(after: colon)...])
        guard !user.isEmpty, user.count <= 128, password.count <= 1024 else { return nil }
    }
}
