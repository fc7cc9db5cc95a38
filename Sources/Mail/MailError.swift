import Foundation

/// Why a mail could not be built, spooled or delivered. Each case says what to check.
public enum MailError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A header value (named) contains CR or LF; remove line breaks (header injection is refused).
    case headerInjection(header: String)
    /// An address is not a plain `local@domain` mailbox (no spaces, angle brackets or line breaks).
    case invalidAddress(String)
    /// A message has no recipients; give at least one `to` address.
    case noRecipients
    /// Could not connect to the SMTP server; check host, port and that the server is up.
    case connectionFailed(host: String, port: Int, reason: String)
    /// The server did not answer within the step's timeout.
    case timeout(step: String, seconds: Double)
    /// The server closed the connection unexpectedly during a step.
    case connectionClosed(step: String)
    /// The server answered a step with an unexpected reply (code and text as sent).
    case unexpectedReply(step: String, code: Int, text: String)
    /// STARTTLS is required by the configuration but the server does not offer it.
    case startTLSUnavailable(host: String)
    /// TLS could not be set up (trust roots, certificate files).
    case tls(String)
    /// AUTH is configured but the server offers neither PLAIN nor LOGIN.
    case authenticationUnavailable(offered: String)
    /// A spool file could not be read or written; check permissions and free space under the directory.
    case spool(path: String, reason: String)

    public var description: String {
        switch self {
        case .headerInjection(let header): "mail header \(header) contains a line break; remove CR/LF from the value"
        case .invalidAddress(let address): "invalid mail address \(address.debugDescription); use a plain local@domain address"
        case .noRecipients: "mail has no recipients; give at least one address"
        case .connectionFailed(let host, let port, let reason): "cannot connect to SMTP server \(host):\(port) (\(reason)); check mail host/port and that the server is running"
        case .timeout(let step, let seconds): "SMTP server did not answer \(step) within \(seconds) s"
        case .connectionClosed(let step): "SMTP server closed the connection during \(step)"
        case .unexpectedReply(let step, let code, let text): "SMTP server rejected \(step): \(code) \(text)"
        case .startTLSUnavailable(let host): "SMTP server \(host) does not offer STARTTLS but it is required; set startTLS to opportunistic or none, or fix the server"
        case .tls(let reason): "SMTP TLS setup failed: \(reason)"
        case .authenticationUnavailable(let offered): "SMTP server offers no supported AUTH mechanism (offered: \(offered.isEmpty ? "none" : offered)); PLAIN or LOGIN needed (over TLS)"
        case .spool(let path, let reason): "mail spool \(path): \(reason); check permissions and free space"
        }
    }
}
