import Foundation

/// Errors of reports: each says what to do about it.
public enum ReportError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A request or command line was malformed.
    case badRequest(String)
    /// The organisation does not exist.
    case notFound(String)
    /// A signed link was changed (403).
    case tampered
    /// A signed link is past its expiry (410).
    case expired(Date)
    /// The directory could not be read or written.
    case directory(String)
    /// The link key could not be read or created.
    case key(String)
    /// The report mail could not be spooled.
    case mail(String)

    public var description: String {
        switch self {
        case .badRequest(let why): return "bad request: \(why)"
        case .notFound(let what): return "\(what) does not exist"
        case .tampered: return "this report link is not valid (it was changed or signed with another key); use the link exactly as mailed or ask for a new one"
        case .expired(let date):
            return "this report link expired on \(ISO8601DateFormatter().string(from: date)); run `tollgate admin report run` or ask your operator for a new link"
        case .directory(let why): return "the directory could not be used: \(why); retry later"
        case .key(let why): return "the report link key is not usable: \(why)"
        case .mail(let why): return "the report mail could not be spooled: \(why)"
        }
    }
}
