import Foundation

/// The monitor's tunables (`tollgate serve --probe-interval` and friends).
public struct MonitorSettings: Sendable, Equatable {
    /// Seconds between the starts of two probe cycles.
    public var probeInterval: Double = 60
    /// Probes (and collections) in flight at once.
    public var probeConcurrency: Int = 64
    /// Seconds one request to an agent may take.
    public var probeTimeout: Double = 10
    /// Days before certificate expiry at which a converter counts as `expiring`.
    public var expiryWarningDays: Double = 14
    /// Consecutive failed probes after which a converter is `down`.
    public var downAfter: Int = 3
    /// More health changes than this within ``flapWindow`` hold further mails.
    public var flapLimit: Int = 4
    /// Seconds of the flap window (and of the stability that ends damping).
    public var flapWindow: Double = 3600
    /// Records asked for per traffic request (the agent's maximum is 10000).
    public var trafficPageSize: Int = 1000
    /// Traffic pages collected per converter and cycle at most (the rest next cycle).
    public var trafficPagesPerCycle: Int = 20
    /// Converters' traffic pages committed in one LDAP transaction at most (group commit).
    public var collectBatch: Int = 64
    /// Seconds a collected page waits for others before its batch is committed anyway.
    public var collectBatchWait: Double = 0.05
    /// Batches committed at the same time at most (each holds one of the monitor's LDAP
    /// connections; `serve` sets it to `--monitor-ldap-connections`).
    public var collectBatchesInFlight: Int = 16
    /// Seconds between roll-up and retention passes.
    public var rollupInterval: Double = 3600
    /// Seconds 5-minute, hourly and daily samples are kept.
    public var retain5m: Double = 2 * 86_400
    public var retainHourly: Double = 35 * 86_400
    public var retainDaily: Double = 400 * 86_400
    /// Default agent status port when a converter has no `tgStatusPort`.
    public var defaultStatusPort: Int = 9443

    public init() {}

    /// Checks the values; throws a ``MonitorError/configuration(_:)`` naming the flag.
    public func validate() throws(MonitorError) {
        func positive(_ value: Double, _ flag: String) throws(MonitorError) {
            guard value > 0, value.isFinite else { throw .configuration("--\(flag) must be a positive number (got \(value))") }
        }
        try positive(probeInterval, "probe-interval")
        try positive(probeTimeout, "probe-timeout")
        try positive(flapWindow, "flap-window")
        try positive(rollupInterval, "rollup-interval")
        try positive(retain5m, "retain-5m")
        try positive(retainHourly, "retain-hourly")
        try positive(retainDaily, "retain-daily")
        guard expiryWarningDays >= 0 else { throw .configuration("--expiry-warning-days cannot be negative") }
        guard probeConcurrency >= 1 else { throw .configuration("--probe-concurrency must be at least 1") }
        guard downAfter >= 1 else { throw .configuration("--down-after must be at least 1") }
        guard flapLimit >= 1 else { throw .configuration("--flap-limit must be at least 1") }
        guard (1...10_000).contains(collectBatch) else { throw .configuration("--collect-batch must be 1…10000") }
        guard collectBatchWait >= 0, collectBatchWait.isFinite else { throw .configuration("--collect-batch-wait cannot be negative") }
        guard collectBatchesInFlight >= 1 else { throw .configuration("--monitor-ldap-connections must be at least 1") }
        guard (1...10_000).contains(trafficPageSize) else { throw .configuration("--traffic-page-size must be 1…10000") }
    }
}
