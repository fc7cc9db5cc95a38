import Foundation
import Logging

/// The counters of one CHILD_SA at the last sampler round (kept in the journal, so a
/// restarted agent neither counts them again nor loses what came after).
public struct CounterReading: Codable, Sendable, Equatable {
    public var child: String
    public var destination: String
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var packetsIn: UInt64
    public var packetsOut: UInt64
    /// When the counters were read (RFC 3339).
    public var time: String

    public init(child: String, destination: String, bytesIn: UInt64, bytesOut: UInt64, packetsIn: UInt64, packetsOut: UInt64, time: String) {
        self.child = child
        self.destination = destination
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.packetsIn = packetsIn
        self.packetsOut = packetsOut
        self.time = time
    }
}

/// Every `--traffic-interval` reads strongSwan's CHILD_SA counters (`swanctl --list-sas
/// --raw` through `TunnelDriver.listSAs()`), turns them into per-interval `traffic` records
/// and appends them, with the readings, to the journal; it also ingests `check`'s access
/// spool.
///
/// Deltas are per CHILD_SA, keyed by its unique id and inbound SPI: a CHILD_SA not seen
/// before (new, rekeyed, charon restarted) or one whose counter went down counts from zero.
/// Several CHILD_SAs of the same child and destination in one round (rekey overlap) add up
/// into one record; rounds without traffic write no record. Traffic a CHILD_SA carried after
/// the last round before it was deleted is not seen (its counters are gone with it).
public actor TrafficSampler {
    private let driver: TunnelDriver?
    private let journal: TrafficJournal
    private let interval: Duration
    private let logger: Logger
    private var lastError: String?
    /// When the last round completed (for state.json and tests).
    public private(set) var lastRound: Date?

    public init(driver: TunnelDriver?, journal: TrafficJournal, interval: Duration, logger: Logger = Logger(label: "tollgate-agent.traffic")) {
        self.driver = driver
        self.journal = journal
        self.interval = interval
        self.logger = logger
    }

    /// The key of a CHILD_SA in the readings.
    public static func key(_ child: ChildSAState) -> String { "\(child.uniqueID)/\(child.spiIn)" }

    /// The destination of a child: its first remote traffic selector without the
    /// `[proto/port]` suffix, e.g. `10.20.0.0/16`.
    public static func destination(_ child: ChildSAState) -> String {
        guard let first = child.remoteTS.first else { return "" }
        return first.split(separator: "[", maxSplits: 1).first.map(String.init) ?? first
    }

    /// One round: records for the traffic since `previous` and the new readings.
    public static func round(previous: [String: CounterReading], children: [ChildSAState], now: Date,
                             interval: Duration) -> (records: [JournalRecord], readings: [String: CounterReading]) {
        let nowText = RFC3339.format(now)
        let lastRound = previous.values.compactMap { RFC3339.parse($0.time) }.max()
        let fallbackStart = lastRound ?? now.addingTimeInterval(-Double(interval.components.seconds))
        struct Sum {
            var start: Date
            var bytesIn: UInt64 = 0, bytesOut: UInt64 = 0, packetsIn: UInt64 = 0, packetsOut: UInt64 = 0
        }
        var sums: [String: (child: String, destination: String, sum: Sum)] = [:]
        var order: [String] = []
        var readings: [String: CounterReading] = [:]
        for child in children {
            let key = Self.key(child)
            let destination = Self.destination(child)
            readings[key] = CounterReading(child: child.name, destination: destination, bytesIn: child.bytesIn, bytesOut: child.bytesOut,
                                           packetsIn: child.packetsIn, packetsOut: child.packetsOut, time: nowText)
            var start = fallbackStart
            var base = (bytesIn: UInt64(0), bytesOut: UInt64(0), packetsIn: UInt64(0), packetsOut: UInt64(0))
            if let old = previous[key], child.bytesIn >= old.bytesIn, child.bytesOut >= old.bytesOut,
               child.packetsIn >= old.packetsIn, child.packetsOut >= old.packetsOut {
                base = (old.bytesIn, old.bytesOut, old.packetsIn, old.packetsOut)
                start = RFC3339.parse(old.time) ?? fallbackStart
            } else if let installed = child.installSeconds {
                start = max(fallbackStart, now.addingTimeInterval(-Double(installed)))
            }
            let group = child.name + "\u{0}" + destination
            var entry = sums[group] ?? (child.name, destination, Sum(start: start))
            if sums[group] == nil { order.append(group) }
            entry.sum.start = min(entry.sum.start, start)
            entry.sum.bytesIn += child.bytesIn - base.bytesIn
            entry.sum.bytesOut += child.bytesOut - base.bytesOut
            entry.sum.packetsIn += child.packetsIn - base.packetsIn
            entry.sum.packetsOut += child.packetsOut - base.packetsOut
            sums[group] = entry
        }
        let records = order.compactMap { group -> JournalRecord? in
            guard let entry = sums[group] else { return nil }
            let sum = entry.sum
            guard sum.bytesIn + sum.bytesOut + sum.packetsIn + sum.packetsOut > 0 else { return nil }
            return .traffic(child: entry.child, destination: entry.destination, start: sum.start, end: now,
                            bytesIn: sum.bytesIn, bytesOut: sum.bytesOut, packetsIn: sum.packetsIn, packetsOut: sum.packetsOut)
        }
        return (records, readings)
    }

    /// Runs rounds until cancelled: one at once, then every interval.
    public func run() async {
        while !Task.isCancelled {
            await sampleOnce()
            try? await Task.sleep(for: interval)
        }
    }

    /// Ingests the access spool and, with strongSwan, reads the counters and journals them.
    public func sampleOnce() async {
        let journal = journal
        do {
            try await BlockingIO.run { () throws(AgentError) in _ = try journal.ingestSpool() }
            if let driver {
                let children = try await driver.listSAs().flatMap(\.children)
                let previous = journal.readings
                let (records, readings) = Self.round(previous: previous, children: children, now: Date(), interval: interval)
                // An idle round (same CHILD_SAs, no traffic) writes nothing.
                if !records.isEmpty || Set(readings.keys) != Set(previous.keys) {
                    try await BlockingIO.run { () throws(AgentError) in try journal.appendTraffic(records, readings: readings) }
                }
                logger.debug("traffic round", metadata: ["child_sas": "\(children.count)", "records": "\(records.count)"])
            }
            lastRound = Date()
            if lastError != nil { logger.notice("traffic sampling works again") }
            lastError = nil
        } catch {
            if error.description != lastError {
                logger.warning("cannot sample traffic; retrying every interval", metadata: ["error": "\(error)"])
            }
            lastError = error.description
        }
    }

    /// The last round's failure, nil after a success.
    public var problem: String? { lastError }
}
