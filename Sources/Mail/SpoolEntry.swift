import Foundation

/// The envelope and delivery state of one spooled message: the JSON sidecar `ID.json`
/// next to `ID.eml` in the spool.
public struct SpoolEntry: Codable, Sendable, Equatable {
    /// File name stem shared by the `.eml` and `.json` files (time-ordered).
    public var id: String
    /// Envelope sender (SMTP `MAIL FROM`).
    public var from: String
    /// Envelope recipients (SMTP `RCPT TO`).
    public var to: [String]
    public var subject: String
    public var created: Date
    /// Failed delivery attempts so far.
    public var attempts: Int
    /// Not to be tried before this time.
    public var nextAttempt: Date
    /// The last delivery error, for operators.
    public var lastError: String?
    /// When it was delivered (entries under `sent/` only).
    public var sentAt: Date?
    /// What the mail is about, for the history and for resolving held mail, e.g.
    /// `kind`, `applicationId`, `orgNumber`; `holderPID` on held entries.
    public var metadata: [String: String]?

    public init(id: String, from: String, to: [String], subject: String, created: Date,
                attempts: Int = 0, nextAttempt: Date, lastError: String? = nil, sentAt: Date? = nil,
                metadata: [String: String]? = nil) {
        self.id = id
        self.from = from
        self.to = to
        self.subject = subject
        self.created = created
        self.attempts = attempts
        self.nextAttempt = nextAttempt
        self.lastError = lastError
        self.sentAt = sentAt
        self.metadata = metadata
    }
}
