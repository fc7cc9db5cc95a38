import Foundation
import Logging
import ServiceLifecycle

/// Sends spooled mail: ``submit(_:)`` writes a message to the spool (to `pending/` when an
/// SMTP host is configured, to the final outbox otherwise); ``run()`` (a ServiceLifecycle
/// service) delivers due messages every `pollInterval`, moves delivered ones to `sent/` and
/// reschedules failed ones with ``MailRetryPolicy`` backoff. All state is on disk, so a restart
/// resumes where it stopped; an undelivered message is never deleted.
public struct MailDelivery: Service {
    public let configuration: MailConfiguration
    public let spool: MailSpool
    public let retryPolicy: MailRetryPolicy
    public let pollInterval: Duration
    public let logger: Logger
    let client: SMTPClient

    /// The outcome of one ``deliverDue(now:)`` pass.
    public struct Pass: Sendable, Equatable {
        public var delivered: [String] = []
        public var failed: [String] = []

        public init(delivered: [String] = [], failed: [String] = []) {
            self.delivered = delivered
            self.failed = failed
        }
    }

    public init(configuration: MailConfiguration, spool: MailSpool, retryPolicy: MailRetryPolicy = .standard,
                pollInterval: Duration = .seconds(5), logger: Logger = Logger(label: "tollgate.mail")) {
        self.configuration = configuration
        self.spool = spool
        self.retryPolicy = retryPolicy
        self.pollInterval = pollInterval
        self.logger = logger
        self.client = SMTPClient(configuration: configuration)
    }

    /// Spools `message` (atomically, before any network I/O) and returns its entry.
    /// Without an SMTP host it lands in the final outbox as `ID.eml`.
    @discardableResult
    public func submit(_ message: MailMessage) async throws -> SpoolEntry {
        let entry = try await spool.enqueue(message, forDelivery: configuration.sendsMail)
        logger.info("mail spooled", metadata: ["id": "\(entry.id)", "to": "\(message.to.joined(separator: ","))",
                                               "outboxOnly": "\(!configuration.sendsMail)"])
        return entry
    }

    /// Tries every pending message whose `nextAttempt` has come, once.
    /// Does nothing without an SMTP host (pending messages wait until one is configured).
    public func deliverDue(now: Date = Date()) async throws -> Pass {
        var pass = Pass()
        guard configuration.sendsMail else { return pass }
        for entry in try await spool.pending() where entry.nextAttempt <= now {
            do {
                let data = try await spool.pendingMessage(entry)
                try await client.send(data, from: entry.from, to: entry.to)
                try await spool.markSent(entry)
                pass.delivered.append(entry.id)
                logger.info("mail delivered", metadata: ["id": "\(entry.id)", "attempts": "\(entry.attempts + 1)"])
            } catch {
                let wait = retryPolicy.delay(afterFailures: entry.attempts + 1)
                let updated = try await spool.reschedule(entry, error: "\(error)", nextAttempt: Date().addingTimeInterval(wait))
                pass.failed.append(entry.id)
                logger.warning("mail delivery failed; will retry", metadata: [
                    "id": "\(entry.id)", "attempts": "\(updated.attempts)", "retryIn": "\(wait)s", "error": "\(error)",
                ])
            }
        }
        return pass
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
