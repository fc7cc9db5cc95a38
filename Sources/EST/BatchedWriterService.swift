import Directory
import Foundation
import Logging
import ServiceLifecycle

/// Ties a ``BatchedWriter`` to the server's lifecycle: on graceful shutdown (after the
/// HTTP server, which is the last service and stops first) it waits until every queued
/// write, e.g. history events, is in the directory.
public struct BatchedWriterService: Service {
    public let writer: BatchedWriter
    public let logger: Logger
    /// The longest shutdown waits for the directory.
    public let drainTimeout: TimeInterval

    public init(writer: BatchedWriter, drainTimeout: TimeInterval = 30, logger: Logger) {
        self.writer = writer
        self.drainTimeout = drainTimeout
        self.logger = logger
    }

    public func run() async throws {
        try? await gracefulShutdown()
        let left = await writer.drain(timeout: drainTimeout)
        let stats = writer.statistics
        if left > 0 {
            logger.error("shutting down with directory writes not done", metadata: ["left": "\(left)"])
        } else {
            logger.info("directory writes flushed", metadata: ["writes": "\(stats.writes)", "groups": "\(stats.batches)"])
        }
    }
}
