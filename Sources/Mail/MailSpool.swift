import Foundation
import NIOPosix

/// The on-disk mail queue: nothing is sent before it is on disk, and nothing leaves
/// `pending/` before the SMTP server accepted it.
///
/// Layout under the data directory `DIR`:
///
/// ```
/// DIR/outbox/ID.eml              final outbox when no SMTP server is configured
/// DIR/outbox/ID.json             its envelope (sender, recipients, subject)
/// DIR/outbox/pending/ID.eml      waiting for (re)delivery over SMTP
/// DIR/outbox/pending/ID.json     envelope + attempts, nextAttempt, lastError
/// DIR/outbox/sent/ID.eml         accepted by the SMTP server
/// DIR/outbox/sent/ID.json        envelope + attempts, sentAt
/// DIR/outbox/held/ID.eml         written before the change it reports is committed
/// DIR/outbox/held/ID.json        (see ``hold(_:metadata:now:)``)
/// ```
///
/// The outbox is created with mode 0700: approval mails carry credentials.
///
/// `ID` is `<milliseconds since 1970>-<random>`, so names sort by creation time. Every file
/// is written atomically (temporary file + rename), the `.eml` before its `.json`, so an entry
/// exists once its `.json` exists. File I/O runs on NIO's blocking thread pool, never on the
/// cooperative pool.
public struct MailSpool: Sendable {
    /// `DIR/outbox`.
    public let outbox: URL
    /// `DIR/outbox/pending`.
    public var pendingDirectory: URL { outbox.appendingPathComponent("pending") }
    /// `DIR/outbox/sent`.
    public var sentDirectory: URL { outbox.appendingPathComponent("sent") }
    /// `DIR/outbox/held`.
    public var heldDirectory: URL { outbox.appendingPathComponent("held") }

    /// A spool under the data directory `directory` (creates `outbox/` with mode 0700,
    /// `pending/`, `sent/`, `held/`).
    public init(directory: String) throws(MailError) {
        outbox = URL(fileURLWithPath: directory).appendingPathComponent("outbox")
        for url in [outbox, pendingDirectory, sentDirectory, heldDirectory] {
            do {
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw .spool(path: url.path, reason: "cannot create directory (\(error))")
            }
        }
    }

    /// Writes `message` to `pending/` (for SMTP delivery) or, with `forDelivery == false`,
    /// to the final outbox. Returns its entry.
    @discardableResult
    public func enqueue(_ message: MailMessage, forDelivery: Bool, metadata: [String: String]? = nil,
                        now: Date = Date()) async throws -> SpoolEntry {
        try await write(message, to: forDelivery ? pendingDirectory : outbox, metadata: metadata, now: now)
    }

    /// Writes `message` to `held/`: on disk, but neither sent nor in the outbox until
    /// ``release(_:forDelivery:)``. For a mail that reports a change not yet committed
    /// (e.g. credentials of a tenant being created): written before the commit, released
    /// after it, discarded if it fails. The entry records this process's ID
    /// (`holderPID`) so that a server can resolve entries whose holder died
    /// (``MailDelivery`` with a `heldResolver`).
    @discardableResult
    public func hold(_ message: MailMessage, metadata: [String: String] = [:], now: Date = Date()) async throws -> SpoolEntry {
        var tagged = metadata
        tagged["holderPID"] = String(getpid())
        return try await write(message, to: heldDirectory, metadata: tagged, now: now)
    }

    private func write(_ message: MailMessage, to directory: URL, metadata: [String: String]?, now: Date) async throws -> SpoolEntry {
        let data = try message.rfc5322()
        let id = "\(Int64(now.timeIntervalSince1970 * 1000))-\(UUID().uuidString.prefix(8).lowercased())"
        let entry = SpoolEntry(id: id, from: message.from, to: message.to, subject: message.subject,
                               created: now, nextAttempt: now, metadata: metadata)
        try await blocking {
            try Self.write(data, to: directory.appendingPathComponent("\(id).eml"))
            try Self.write(Self.encode(entry), to: directory.appendingPathComponent("\(id).json"))
        }
        return entry
    }

    /// All entries in `held/`, oldest first.
    public func held() async throws -> [SpoolEntry] { try await entries(in: heldDirectory) }

    /// Moves a held entry to `pending/` (or, with `forDelivery == false`, to the outbox).
    /// Idempotent: a copy is written first, then the held files are removed.
    @discardableResult
    public func release(_ entry: SpoolEntry, forDelivery: Bool) async throws -> SpoolEntry {
        var released = entry
        released.metadata?["holderPID"] = nil
        try await transfer(entry.id, from: heldDirectory, to: forDelivery ? pendingDirectory : outbox, record: released)
        return released
    }

    /// Removes a held entry (the change it reported was not committed).
    public func discard(_ entry: SpoolEntry) async throws {
        let held = heldDirectory
        try await blocking {
            for suffix in ["json", "eml"] {
                let url = held.appendingPathComponent("\(entry.id).\(suffix)")
                do {
                    if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
                } catch {
                    throw MailError.spool(path: url.path, reason: "cannot remove (\(error))")
                }
            }
        }
    }

    /// Moves a pending entry to the final outbox (no SMTP host configured).
    public func moveToOutbox(_ entry: SpoolEntry) async throws {
        try await transfer(entry.id, from: pendingDirectory, to: outbox, record: entry)
    }

    /// True when a held entry's holder is gone (its process ended or is a zombie) or it
    /// has been held longer than `timeout`: its change was committed or never will be.
    public static func isAbandoned(_ entry: SpoolEntry, timeout: TimeInterval = 900, now: Date = Date()) -> Bool {
        if now.timeIntervalSince(entry.created) > timeout { return true }
        guard let text = entry.metadata?["holderPID"], let pid = Int32(text), pid > 0 else { return true }
        if pid == getpid() { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        // A killed process that its parent has not reaped yet still answers kill(pid, 0).
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
            return state == "Z" || state == "X"
        }
        return false
    }

    /// Copies `ID.eml` and writes `record` as `ID.json` into `target`, then removes the
    /// source's `.json` (the entry leaves the source listing) and `.eml`. An interruption
    /// leaves the entry in both places, never in neither.
    private func transfer(_ id: String, from source: URL, to target: URL, record: SpoolEntry) async throws {
        try await blocking {
            let manager = FileManager.default
            let sourceEML = source.appendingPathComponent("\(id).eml")
            try Self.write(try Self.read(sourceEML), to: target.appendingPathComponent("\(id).eml"))
            try Self.write(Self.encode(record), to: target.appendingPathComponent("\(id).json"))
            do {
                try manager.removeItem(at: source.appendingPathComponent("\(id).json"))
                try manager.removeItem(at: sourceEML)
            } catch {
                throw MailError.spool(path: source.path, reason: "cannot remove \(id) after moving it (\(error))")
            }
        }
    }

    /// All entries in `pending/`, oldest first.
    public func pending() async throws -> [SpoolEntry] { try await entries(in: pendingDirectory) }

    /// All entries in `sent/`, oldest first.
    public func sent() async throws -> [SpoolEntry] { try await entries(in: sentDirectory) }

    /// All entries in the final outbox (no SMTP configured), oldest first.
    public func outboxEntries() async throws -> [SpoolEntry] { try await entries(in: outbox) }

    /// The `.eml` file of a pending entry.
    public func pendingMessageURL(_ entry: SpoolEntry) -> URL { pendingDirectory.appendingPathComponent("\(entry.id).eml") }

    /// The RFC 5322 bytes of a pending entry.
    public func pendingMessage(_ entry: SpoolEntry) async throws -> Data {
        let url = pendingMessageURL(entry)
        return try await blocking { try Self.read(url) }
    }

    /// Records a failed attempt: `attempts + 1`, `lastError`, `nextAttempt`.
    @discardableResult
    public func reschedule(_ entry: SpoolEntry, error: String, nextAttempt: Date) async throws -> SpoolEntry {
        var updated = entry
        updated.attempts += 1
        updated.lastError = error
        updated.nextAttempt = nextAttempt
        let record = updated
        let url = pendingDirectory.appendingPathComponent("\(entry.id).json")
        try await blocking { try Self.write(Self.encode(record), to: url) }
        return updated
    }

    /// Moves a delivered entry from `pending/` to `sent/` (`.eml` first, then `.json`).
    public func markSent(_ entry: SpoolEntry, at date: Date = Date()) async throws {
        var updated = entry
        updated.sentAt = date
        updated.lastError = nil
        let record = updated
        let (pending, sent) = (pendingDirectory, sentDirectory)
        try await blocking {
            let manager = FileManager.default
            let eml = sent.appendingPathComponent("\(entry.id).eml")
            do {
                try? manager.removeItem(at: eml)
                try manager.moveItem(at: pending.appendingPathComponent("\(entry.id).eml"), to: eml)
            } catch {
                throw MailError.spool(path: eml.path, reason: "cannot move delivered message (\(error))")
            }
            try Self.write(Self.encode(record), to: sent.appendingPathComponent("\(entry.id).json"))
            try? manager.removeItem(at: pending.appendingPathComponent("\(entry.id).json"))
        }
    }

    private func entries(in directory: URL) async throws -> [SpoolEntry] {
        try await blocking {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            } catch {
                throw MailError.spool(path: directory.path, reason: "cannot list (\(error))")
            }
            var result: [SpoolEntry] = []
            for name in names.sorted() where name.hasSuffix(".json") {
                let stem = String(name.dropLast(5))
                // A .json without its .eml is the remainder of an interrupted move to sent/.
                guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(stem).eml").path) else { continue }
                let data = try Self.read(directory.appendingPathComponent(name))
                do {
                    result.append(try Self.decoder.decode(SpoolEntry.self, from: data))
                } catch {
                    throw MailError.spool(path: directory.appendingPathComponent(name).path, reason: "unreadable envelope (\(error))")
                }
            }
            return result
        }
    }

    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    // Dates as ISO 8601 with milliseconds (backoff steps can be shorter than a second).
    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: text) { return date }
            formatter.formatOptions = [.withInternetDateTime]
            guard let date = formatter.date(from: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(text)"))
            }
            return date
        }
        return decoder
    }

    private static func encode(_ entry: SpoolEntry) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            var container = encoder.singleValueContainer()
            try container.encode(formatter.string(from: date))
        }
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(entry)
    }

    private static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw MailError.spool(path: url.path, reason: "cannot write (\(error))")
        }
    }

    private static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw MailError.spool(path: url.path, reason: "cannot read (\(error))")
        }
    }
}
