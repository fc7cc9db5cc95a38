import Metrics

/// The monitor's metrics through the swift-metrics facade (the server's backend, e.g.
/// Prometheus at /metrics, decides where they go).
public struct MonitorMetrics: Sendable {
    let probesOK = Counter(label: "tollgate_probes_total", dimensions: [("result", "ok")])
    let probesDegraded = Counter(label: "tollgate_probes_total", dimensions: [("result", "degraded")])
    let probesFailed = Counter(label: "tollgate_probes_total", dimensions: [("result", "failed")])
    let probeDuration = Timer(label: "tollgate_probe_duration_seconds")
    let cycleSeconds = Gauge(label: "tollgate_probe_cycle_seconds")
    let collectionLag = Gauge(label: "tollgate_collection_lag_seconds")
    let collectedRecords = Counter(label: "tollgate_collected_records_total")
    let droppedRecords = Counter(label: "tollgate_agent_dropped_records_total")
    /// Collection transactions committed (a batch of converters' pages, or one page retried alone).
    let collectionTransactions = Counter(label: "tollgate_collection_transactions_total")
    /// Batch transactions that failed and were retried one converter at a time.
    let collectionBatchFailures = Counter(label: "tollgate_collection_batch_failures_total")
    let converters: [ConverterHealth: Gauge] = Dictionary(uniqueKeysWithValues: ConverterHealth.allCases.map {
        ($0, Gauge(label: "tollgate_converters", dimensions: [("health", $0.rawValue)]))
    })

    public init() {}

    func probe(_ result: ConverterHealth?) {
        switch result {
        case nil, .down?, .unknown?: probesFailed.increment()
        case .degraded?: probesDegraded.increment()
        case .up?, .expiring?: probesOK.increment()
        }
    }

    func setCounts(_ counts: [ConverterHealth: Int]) {
        for (health, gauge) in converters { gauge.record(counts[health] ?? 0) }
    }
}
