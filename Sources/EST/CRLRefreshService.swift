import Foundation
import Logging
import ServiceLifecycle

/// Keeps the published CRL fresh: publishes one at start and again every half lifetime,
/// so that peers never hold a CRL past its nextUpdate.
public struct CRLRefreshService: Service {
    public let publisher: CRLPublisher
    public let logger: Logger

    public init(publisher: CRLPublisher, logger: Logger) {
        self.publisher = publisher
        self.logger = logger
    }

    public func run() async throws {
        let interval = max(60, publisher.lifetime / 2)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let number = try await publisher.publish()
                logger.info("published CRL", metadata: ["number": "\(number)"])
            } catch {
                logger.error("could not publish the CRL; retrying in 60 s", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(60))
                continue
            }
            try? await gracefulShutdownOrSleep(seconds: interval)
        }
    }

    private func gracefulShutdownOrSleep(seconds: TimeInterval) async throws {
        try await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .seconds(seconds))
        }
    }
}
