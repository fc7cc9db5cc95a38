import Foundation
import Logging
import ServiceLifecycle

/// Runs a ``ContentSyncSession`` for the server's lifetime.
public struct ReplicaSyncService: Service {
    public let session: ContentSyncSession

    public init(session: ContentSyncSession) { self.session = session }

    public func run() async throws {
        session.start()
        try? await gracefulShutdown()
        session.stop()
    }
}

/// Writes the ``AccessHistory`` every period and once more at shutdown (before the
/// batched writer drains: list it after the writer's service).
public struct AccessHistoryService: Service {
    public let history: AccessHistory
    public let logger: Logger

    public init(history: AccessHistory, logger: Logger) {
        self.history = history
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .seconds(history.limits.period))
            }
            let written = await history.flush()
            if written > 0 { logger.debug("access history written", metadata: ["events": "\(written)"]) }
        }
    }
}
