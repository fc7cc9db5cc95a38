import CertificateAuthority
import Directory
import Foundation
import LDAPClient
import Logging
import Mail
import NIOSSL
import ServiceLifecycle

/// Assembles the monitor for `tollgate serve`: issues the monitor's client certificate,
/// and returns the probe scheduler (with collection) and the roll-up service.
public enum MonitorServices {
    /// - Parameters:
    ///   - client: A client of the monitor's own (each collection batch in flight holds a
    ///     connection; ``MonitorSettings/collectBatchesInFlight`` should not exceed its
    ///     connections).
    ///   - writer: The server's batched writer (health changes and history events).
    public static func make(settings: MonitorSettings, authority: CertificateAuthority, layout: DirectoryLayout,
                            client: LDAPClient, writer: BatchedWriter, mailer: HealthMailer,
                            logger: Logger) throws -> (scheduler: ProbeScheduler, rollups: RollupService) {
        try settings.validate()
        let identity = try MonitorIdentity(authority: authority)
        let context = try NIOSSLContext(configuration: identity.tlsConfiguration())
        let metrics = MonitorMetrics()
        let committer = CollectionCommitter(
            client: client, layout: layout,
            settings: .init(batchSize: settings.collectBatch, wait: .milliseconds(Int64(settings.collectBatchWait * 1000)),
                            maxInFlight: settings.collectBatchesInFlight),
            metrics: metrics, logger: logger)
        let collector = TrafficCollector(committer: committer, pageSize: settings.trafficPageSize,
                                         pagesPerCycle: settings.trafficPagesPerCycle, metrics: metrics, logger: logger)
        let scheduler = ProbeScheduler(settings: settings, layout: layout, client: client, writer: writer, collector: collector,
                                       mailer: mailer, tls: context, metrics: metrics, logger: logger)
        return (scheduler, RollupService(settings: settings, client: client, layout: layout, logger: logger))
    }
}
