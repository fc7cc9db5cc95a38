import CoreMetrics
import LDAPClient
import Metrics
import Prometheus
import Synchronization

/// Tollgate's metrics backend: swift-metrics bootstrapped with a `PrometheusMetricsFactory`
/// on a registry of its own, and the LDAP operation observer that feeds
/// `tollgate_ldap_operation_seconds` and `tollgate_ldap_errors_total{code}`.
///
/// Code anywhere in the process records through the swift-metrics facade (`Counter`,
/// `Timer`, `Gauge`, …); ``registry`` renders them all (``MetricsEndpoint``).
public enum TollgateMetrics {
    private static let state = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps the metrics system once per process (later calls return the same
    /// registry) and installs the LDAP observer.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let (registry, fresh) = state.withLock { current -> (PrometheusCollectorRegistry, Bool) in
            if let current { return (current, false) }
            let registry = PrometheusCollectorRegistry()
            current = registry
            return (registry, true)
        }
        guard fresh else { return registry }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["tollgate_ldap_operation_seconds"] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        let ldap = LDAPMetrics()
        LDAPOperationObserver.install { duration, failure in ldap.record(duration, failure) }
        return registry
    }

    /// The registry, if ``bootstrap()`` ran.
    public static var registry: PrometheusCollectorRegistry? { state.withLock { $0 } }

    /// The Prometheus text exposition (format 0.0.4) of everything recorded so far.
    public static func exposition() -> String {
        guard let registry else { return "" }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// The metrics of LDAP operations: one cached timer and one cached counter per result code.
final class LDAPMetrics: Sendable {
    let timer = Metrics.Timer(label: "tollgate_ldap_operation_seconds")
    private let errors = Mutex<[Int32: CoreMetrics.Counter]>([:])

    func record(_ duration: Duration, _ failure: LDAPResultCode?) {
        timer.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        guard let failure else { return }
        let counter = errors.withLock { counters -> CoreMetrics.Counter in
            if let counter = counters[failure.rawValue] { return counter }
            let counter = CoreMetrics.Counter(label: "tollgate_ldap_errors_total", dimensions: [("code", String(failure.rawValue))])
            counters[failure.rawValue] = counter
            return counter
        }
        counter.increment()
    }
}
