import Foundation

/// How Tollgate sends mail. With `host == nil` nothing is sent: messages are written to the
/// outbox directory as `.eml` files (the embedded default, see ``MailSpool``).
public struct MailConfiguration: Sendable, Equatable {
    /// Whether to upgrade the SMTP connection with STARTTLS.
    public enum StartTLSMode: String, Sendable, Equatable, CaseIterable {
        /// Never use TLS (local relays only).
        case none
        /// Use STARTTLS or fail the delivery (and retry later).
        case required
        /// Use STARTTLS when the server offers it, plain SMTP otherwise.
        case opportunistic
    }

    /// SMTP server host name or address; nil means outbox only.
    public var host: String?
    /// SMTP server port (587 submission, 25 relay).
    public var port: Int
    public var startTLS: StartTLSMode
    /// PEM file(s) of CA certificates trusted for the server; nil means the system's roots.
    public var trustRootsPEMFile: String?
    /// AUTH user name; nil means no authentication.
    public var username: String?
    public var password: String?
    /// Envelope and header sender, e.g. `tollgate@example.net`.
    public var from: String
    /// Name sent with EHLO.
    public var heloName: String
    /// Timeout for each SMTP step (connect, each command's reply).
    public var stepTimeout: Duration

    public init(host: String? = nil, port: Int = 587, startTLS: StartTLSMode = .opportunistic,
                trustRootsPEMFile: String? = nil, username: String? = nil, password: String? = nil,
                from: String, heloName: String = "tollgate.localdomain", stepTimeout: Duration = .seconds(30)) {
        self.host = host
        self.port = port
        self.startTLS = startTLS
        self.trustRootsPEMFile = trustRootsPEMFile
        self.username = username
        self.password = password
        self.from = from
        self.heloName = heloName
        self.stepTimeout = stepTimeout
    }

    /// True when an SMTP host is configured (otherwise messages stay in the outbox).
    public var sendsMail: Bool { host != nil }
}
