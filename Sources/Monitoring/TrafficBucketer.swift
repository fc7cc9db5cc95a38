import Directory
import Foundation

/// Sorts agent records into 5-minute ``TrafficSample``s of one converter.
///
/// - `traffic` records count in the bucket of their `start` (bytes, packets, and the
///   per-destination split).
/// - `access` records count in the bucket of their `time`: allowed or denied attempts,
///   denied ones also per destination.
/// - `dropped` records add to ``dropped`` (the agent lost them; they cannot be counted).
public struct TrafficBucketer: Sendable {
    public static let interval = 300
    public let orgNumber: String
    public let converter: String
    /// Samples by bucket start.
    public private(set) var samples: [Date: TrafficSample] = [:]
    /// Records the agent reported as dropped.
    public private(set) var dropped: Int64 = 0
    /// The end of the newest traffic record (or time of the newest access record).
    public private(set) var newest: Date?
    /// Records counted.
    public private(set) var counted = 0

    public init(orgNumber: String, converter: String) {
        self.orgNumber = orgNumber
        self.converter = converter
    }

    /// Counts one record; throws for a record without the times its kind needs.
    public mutating func add(_ record: AgentRecord) throws(MonitorError) {
        switch record.kind {
        case "traffic":
            guard let start = AgentRecord.date(record.start) else {
                throw .protocolViolation("traffic record \(record.seq) has no valid start time")
            }
            let end = AgentRecord.date(record.end) ?? start
            let counters = TrafficSample.Counters(bytesIn: max(0, record.bytesIn ?? 0), bytesOut: max(0, record.bytesOut ?? 0),
                                                  packetsIn: max(0, record.packetsIn ?? 0), packetsOut: max(0, record.packetsOut ?? 0))
            update(start) { sample in
                sample.totals = sample.totals + counters
                let destination = record.destination ?? record.child ?? "unknown"
                sample.breakdown.destinations[destination, default: .init()] = sample.breakdown.destinations[destination, default: .init()] + counters
            }
            note(end)
            counted += 1
        case "access":
            guard let time = AgentRecord.date(record.time) else {
                throw .protocolViolation("access record \(record.seq) has no valid time")
            }
            update(time) { sample in
                if record.allow == true {
                    sample.allowedAttempts += 1
                } else {
                    sample.deniedAttempts += 1
                    sample.breakdown.denied[record.destination ?? "unknown", default: 0] += 1
                }
            }
            note(time)
            counted += 1
        case "dropped":
            dropped += max(0, record.count ?? 0)
        default:
            break
        }
    }

    private mutating func note(_ time: Date) {
        if let newest, newest >= time { return }
        newest = time
    }

    private mutating func update(_ time: Date, _ change: (inout TrafficSample) -> Void) {
        let start = TrafficSample.align(time, interval: Self.interval)
        var sample = samples[start] ?? TrafficSample(orgNumber: orgNumber, converter: converter, start: start,
                                                     interval: Self.interval)
        change(&sample)
        sample.peakBytes = sample.totals.bytesIn + sample.totals.bytesOut
        samples[start] = sample
    }

    /// `existing` (already stored) plus `addition` (new records of the same bucket).
    public static func merge(_ existing: TrafficSample, _ addition: TrafficSample) -> TrafficSample {
        var merged = TrafficSample.rollUp([existing, addition], orgNumber: existing.orgNumber, converter: existing.converter,
                                          start: existing.start, interval: existing.interval)
        if existing.interval == interval { merged.peakBytes = merged.totals.bytesIn + merged.totals.bytesOut }
        return merged
    }
}
