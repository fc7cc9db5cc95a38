/// Why an agent command failed. Every case says what to do and maps to one exit status, so
/// that scripts can tell "the server said no" from "the server could not be asked".
///
/// Exit statuses (also in docs/agent.md): 0 success / allow, 1 deny (`check` only),
/// 2 network, 3 refused (401/403), 4 request rejected (400/413/415), 5 server unavailable
/// or still pending, 6 local files, 7 TLS or trust, 8 unexpected answer, 9 strongSwan,
/// 64 usage.
public enum AgentError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The server could not be reached (connect, DNS, timeout, connection lost).
    case network(String)
    /// The server refused the credentials or certificate (401) or the request (403).
    case refused(status: Int, message: String)
    /// The server rejected the request as malformed (400, 413, 415).
    case rejected(status: Int, message: String)
    /// The server or its directory is unavailable (503, 5xx), or enrolment is still pending.
    case unavailable(String)
    /// Local files are missing, unreadable, too open or inconsistent.
    case localFiles(String)
    /// TLS failed, or the CA does not match what this agent trusts.
    case trust(String)
    /// The server answered something this agent does not understand.
    case unexpectedResponse(String)
    /// swanctl or charon failed.
    case strongSwan(String)
    /// Invalid arguments.
    case usage(String)

    /// The process exit status for this error.
    public var exitCode: Int32 {
        switch self {
        case .network: 2
        case .refused: 3
        case .rejected: 4
        case .unavailable: 5
        case .localFiles: 6
        case .trust: 7
        case .unexpectedResponse: 8
        case .strongSwan: 9
        case .usage: 64
        }
    }

    public var description: String {
        switch self {
        case .network(let why): "cannot reach the server: \(why)"
        case .refused(let status, let message): "refused by the server (HTTP \(status)): \(message)"
        case .rejected(let status, let message): "request rejected by the server (HTTP \(status)): \(message)"
        case .unavailable(let why): "server unavailable: \(why)"
        case .localFiles(let why): why
        case .trust(let why): "TLS/trust: \(why)"
        case .unexpectedResponse(let why): "unexpected answer from the server: \(why)"
        case .strongSwan(let why): "strongSwan: \(why)"
        case .usage(let why): why
        }
    }

    /// Maps a non-2xx HTTP answer to an error; `what` names the request.
    static func http(status: Int, body: String, what: String) -> AgentError {
        let message = body.trimmingCharacters(in: .whitespacesAndNewlines).prefix(500)
        switch status {
        case 401:
            return .refused(status: status, message: "\(what): \(message.isEmpty ? "not authenticated" : String(message))")
        case 403:
            return .refused(status: status, message: "\(what): \(message.isEmpty ? "forbidden" : String(message))")
        case 400, 404, 405, 411, 413, 415, 422:
            return .rejected(status: status, message: "\(what): \(message)")
        case 500...599:
            return .unavailable("\(what): HTTP \(status) \(message)")
        default:
            return .unexpectedResponse("\(what): HTTP \(status) \(message)")
        }
    }
}

import Foundation
