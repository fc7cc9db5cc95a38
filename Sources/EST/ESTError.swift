import Hummingbird

/// Why an EST request was refused; each maps to one HTTP status and a plain-text body
/// that tells the converter's operator what to do.
public enum ESTError: Error, Sendable, CustomStringConvertible {
    /// No or wrong credentials (401, with `WWW-Authenticate: Basic`).
    case unauthorized(String)
    /// Authenticated, but not allowed to have this certificate (403).
    case forbidden(String)
    /// The request itself is wrong: CSR, content type, encoding (400).
    case badRequest(String)
    /// The body is larger than an EST request can be (413).
    case payloadTooLarge(Int)
    /// The directory or CA could not be used right now (503).
    case unavailable(String)

    public var status: HTTPResponse.Status {
        switch self {
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .badRequest: return .badRequest
        case .payloadTooLarge: return .contentTooLarge
        case .unavailable: return .serviceUnavailable
        }
    }

    public var description: String {
        switch self {
        case .unauthorized(let why): return "unauthorized: \(why)"
        case .forbidden(let why): return "forbidden: \(why)"
        case .badRequest(let why): return "bad request: \(why)"
        case .payloadTooLarge(let limit): return "request body larger than \(limit) bytes; send one PKCS#10 CSR"
        case .unavailable(let why): return "temporarily unavailable: \(why); retry later"
        }
    }
}
