import Foundation

/// What `tollgate serve` tells the admin CLI about its mail, in `DIR/mail-settings.json`
/// (written at every start): the sender, the public URL used in mails, and whether mail
/// goes out over SMTP or stays in the outbox. The CLI spools its verdict mails the same
/// way, so the server (or the next one started) delivers them.
public struct MailSettings: Codable, Sendable, Equatable {
    /// Sender address.
    public var from: String
    /// Tollgate's public base URL, for next steps in mails.
    public var publicURL: String?
    /// `smtp` (mail goes to `outbox/pending/` and is sent) or `outbox` (written to
    /// `outbox/` only).
    public var delivery: String

    public init(from: String, publicURL: String?, delivery: String) {
        self.from = from
        self.publicURL = publicURL
        self.delivery = delivery
    }

    /// The sender used when nothing is configured.
    public static let defaultFrom = "tollgate@localhost"

    static func url(_ directory: String) -> URL { URL(fileURLWithPath: directory).appendingPathComponent("mail-settings.json") }

    /// The settings the last server under `directory` wrote, if any.
    public static func load(directory: String) -> MailSettings? {
        guard let data = try? Data(contentsOf: url(directory)) else { return nil }
        return try? JSONDecoder().decode(MailSettings.self, from: data)
    }

    public func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: Self.url(directory), options: .atomic)
    }
}
