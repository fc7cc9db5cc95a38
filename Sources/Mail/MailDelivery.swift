import Foundation
import Logging
import ServiceLifecycle

/// What happened to a spooled mail during a delivery pass (for the caller's history).
public enum MailDeliveryEvent: Sendable {
    /// The SMTP server accepted it (250 after DATA); it is in `sent/` now.
    case sent(SpoolEntry)
    /// No SMTP host is configured: it moved from `pending/` to the final outbox.
    case movedToOutbox(SpoolEntry)
    /// A held mail whose change was committed: released for delivery.
    case released(SpoolEntry)
    /// A held mail whose change was never committed: removed.
    case discarded(SpoolEntry)
}

/// What to do with a held mail whose holder is gone (see ``MailSpool/hold(_:metadata:now:)``).
public enum HeldMailDecision: Sendable, Equatable {
    /// The change it reports was committed: deliver it.
    case release
    /// The change was not committed: remove it.
    case discard
    /// Cannot tell now (e.g. the directory is down): ask again on the next pass.
    case keep
}

/// Sends spooled mail: ``submit(_:metadata:)`` writes a message to the spool (to `pending/`
/// when an SMTP host is configured, to the final outbox otherwise); ``run()`` (a
/// ServiceLifecycle service) delivers due messages every `pollInterval`, moves delivered
/// ones to `sent/` and reschedules failed ones with ``MailRetryPolicy`` backoff. Due
/// messages go out up to ``batchSize`` per SMTP connection. All state
/// is on disk, so a restart resumes where it stopped; an undelivered message is never
/// deleted.
///
/// Without an SMTP host, messages that other processes (the admin CLI) put into `pending/`
/// are moved to the final outbox. With a `heldResolver`, held messages whose holder died
/// are released or discarded as the resolver decides.
public struct MailDelivery: Service {
    public let configuration: MailConfiguration
    public let spool: MailSpool
    public let retryPolicy: MailRetryPolicy
    public let pollInterval: Duration
    public let logger: Logger
    /// Decides about abandoned held mail; nil leaves held mail alone.
    public let heldResolver: (@Sendable (SpoolEntry) async -> HeldMailDecision)?
    /// Told about every delivery, move, release and discard (e.g. to record history).
    public let onEvent: (@Sendable (MailDeliveryEvent) async -> Void)?
    let client: SMTPClient

    /// The outcome of one ``deliverDue(now:)`` pass.
    public struct Pass: Sendable, Equatable {
        public var delivered: [String] = []
        public var failed: [String] = []
        public var movedToOutbox: [String] = []
        public var released: [String] = []
        public var discarded: [String] = []

        public init(delivered: [String] = [], failed: [String] = [], movedToOutbox: [String] = [],
                    released: [String] = [], discarded: [String] = []) {
            self.delivered = delivered
            self.failed = failed
            self.movedToOutbox = movedToOutbox
            self.released = released
            self.discarded = discarded
        }
    }

    public init(configuration: MailConfiguration, spool: MailSpool, retryPolicy: MailRetryPolicy = .standard,
                pollInterval: Duration = .seconds(5), logger: Logger = Logger(label: "tollgate.mail"),
                heldResolver: (@Sendable (SpoolEntry) async -> HeldMailDecision)? = nil,
                onEvent: (@Sendable (MailDeliveryEvent) async -> Void)? = nil) {
        self.configuration = configuration
        self.spool = spool
        self.retryPolicy = retryPolicy
        self.pollInterval = pollInterval
        self.logger = logger
        self.heldResolver = heldResolver
        self.onEvent = onEvent
        self.client = SMTPClient(configuration: configuration)
    }

    /// Spools `message` (atomically, before any network I/O) and returns its entry.
    /// Without an SMTP host it lands in the final outbox as `ID.eml`.
    @discardableResult
    public func submit(_ message: MailMessage, metadata: [String: String]? = nil) async throws -> SpoolEntry {
        let entry = try await spool.enqueue(message, forDelivery: configuration.sendsMail, metadata: metadata)
        logger.info("mail spooled", metadata: ["id": "\(entry.id)", "to": "\(message.to.joined(separator: ","))",
                                               "outboxOnly": "\(!configuration.sendsMail)"])
        return entry
    }

    /// One pass: resolves abandoned held mail, then tries every pending message whose
    /// `nextAttempt` has come, once (or, without an SMTP host, moves pending messages to
    /// the outbox).
    public func deliverDue(now: Date = Date()) async throws -> Pass {
        var pass = Pass()
        if let heldResolver {
            for entry in try await spool.held() where MailSpool.isAbandoned(entry, now: now) {
                switch await heldResolver(entry) {
                case .release:
                    let released = try await spool.release(entry, forDelivery: configuration.sendsMail)
                    pass.released.append(entry.id)
                    logger.notice("held mail released (its change was committed)", metadata: ["id": "\(entry.id)"])
                    await onEvent?(.released(released))
                case .discard:
                    try await spool.discard(entry)
                    pass.discarded.append(entry.id)
                    logger.notice("held mail discarded (its change was not committed)", metadata: ["id": "\(entry.id)"])
                    await onEvent?(.discarded(entry))
                case .keep:
                    break
                }
            }
        }
        guard configuration.sendsMail else {
            for entry in try await spool.pending() {
                try await spool.moveToOutbox(entry)
                pass.movedToOutbox.append(entry.id)
                logger.info("mail written to the outbox (no SMTP host configured)", metadata: ["id": "\(entry.id)"])
                await onEvent?(.movedToOutbox(entry))
            }
            return pass
        }
        let due = try await spool.pending().filter { $0.nextAttempt <= now }
        var index = 0
        while index < due.count {
            let batch = Array(due[index..<min(due.count, index + Self.batchSize)])
            index += batch.count
            try await deliver(batch, pass: &pass)
        }
        return pass
    }

    /// Messages sent over one SMTP connection at most.
    public static let batchSize = 50

    /// Sends `batch` over one SMTP connection; each message accepted by the server moves
    /// to `sent/`, each other one is rescheduled (a message is marked sent only after the
    /// server's 250 for its DATA, so a crash in between sends it again, never loses it).
    private func deliver(_ batch: [SpoolEntry], pass: inout Pass) async throws {
        var envelopes: [SMTPClient.Envelope] = []
        var sendable: [SpoolEntry] = []
        var failures: [(SpoolEntry, any Error)] = []
        for entry in batch {
            do {
                envelopes.append(SMTPClient.Envelope(message: try await spool.pendingMessage(entry), from: entry.from, recipients: entry.to))
                sendable.append(entry)
            } catch {
                failures.append((entry, error))
            }
        }
        let results = envelopes.isEmpty ? [] : await client.send(batch: envelopes)
        for (entry, error) in zip(sendable, results) {
            if let error {
                failures.append((entry, error))
                continue
            }
            try await spool.markSent(entry)
            pass.delivered.append(entry.id)
            logger.info("mail delivered", metadata: ["id": "\(entry.id)", "attempts": "\(entry.attempts + 1)"])
            var sent = entry
            sent.attempts += 1
            sent.sentAt = Date()
            await onEvent?(.sent(sent))
        }
        for (entry, error) in failures {
            let wait = retryPolicy.delay(afterFailures: entry.attempts + 1)
            let updated = try await spool.reschedule(entry, error: "\(error)", nextAttempt: Date().addingTimeInterval(wait))
            pass.failed.append(entry.id)
            logger.warning("mail delivery failed; will retry", metadata: [
                "id": "\(entry.id)", "attempts": "\(updated.attempts)", "retryIn": "\(wait)s", "error": "\(error)",
            ])
        }
    }

    /// Delivers due messages every `pollInterval` until cancelled or gracefully shut down.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await deliverDue()
            } catch {
                logger.error("mail spool pass failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: pollInterval)
            }
        }
    }
}
