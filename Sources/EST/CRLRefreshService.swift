import Foundation
import Logging
import ServiceLifecycle

/// Keeps the published CRL fresh: publishes one at start, again every half lifetime (so
/// that peers never hold a CRL past its nextUpdate), and within `checkInterval` of a
/// revocation recorded by someone else (e.g. an admin command without the CA key).
public struct CRLRefreshService: Service {
    public let publisher: CRLPublisher
    public let logger: Logger

    public let checkInterval: TimeInterval

    public init(publisher: CRLPublisher, checkInterval: TimeInterval = 60, logger: Logger) {
        self.publisher = publisher
        self.checkInterval = checkInterval
        self.logger = logger
    }

    public func run() async throws {
        let refresh = max(checkInterval, publisher.lifetime / 2)
        var published: (at: Date, revocations: Int)?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let revocations = try await publisher.store.revokedCertificates().count
                if published == nil || published?.revocations != revocations
                    || Date().timeIntervalSince(published?.at ?? .distantPast) >= refresh {
                    let number = try await publisher.publish()
                    published = (Date(), revocations)
                    logger.info("published CRL", metadata: ["number": "\(number)", "revoked": "\(revocations)"])
                }
            } catch {
                logger.error("could not publish the CRL; retrying", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdownOrSleep(seconds: checkInterval)
        }
    }

    private func gracefulShutdownOrSleep(seconds: TimeInterval) async throws {
        try await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .seconds(seconds))
        }
    }
}
