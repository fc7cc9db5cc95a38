import Directory
import Foundation
import LDAPClient

/// Plans roll-ups: which hourly (daily) samples to add or correct from the 5-minute
/// (hourly) samples of complete hours (days). Pure, so it is unit-tested on its own.
public enum RollupPlanner {
    /// One planned write.
    public enum Change: Sendable, Equatable {
        case add(TrafficSample)
        case replace(TrafficSample)
    }

    /// The roll-ups of `sources` into `interval` samples, for periods that ended at or
    /// before `now`. `existing` are the roll-ups already stored: an equal one is left
    /// alone (idempotent), a different one (late records arrived) is replaced.
    public static func plan(sources: [TrafficSample], existing: [TrafficSample], interval: Int, now: Date) -> [Change] {
        struct Key: Hashable { var org: String; var converter: String; var start: Date }
        var groups: [Key: [TrafficSample]] = [:]
        for sample in sources where sample.interval < interval {
            let start = TrafficSample.align(sample.start, interval: interval)
            guard start.addingTimeInterval(TimeInterval(interval)) <= now else { continue }
            groups[Key(org: sample.orgNumber, converter: sample.converter, start: start), default: []].append(sample)
        }
        var stored: [Key: TrafficSample] = [:]
        for sample in existing where sample.interval == interval {
            stored[Key(org: sample.orgNumber, converter: sample.converter, start: sample.start)] = sample
        }
        var changes: [Change] = []
        for (key, samples) in groups.sorted(by: { ($0.key.start, $0.key.org, $0.key.converter) < ($1.key.start, $1.key.org, $1.key.converter) }) {
            let rolled = TrafficSample.rollUp(samples.sorted { $0.start < $1.start }, orgNumber: key.org, converter: key.converter,
                                              start: key.start, interval: interval)
            if let current = stored[key] {
                if current != rolled { changes.append(.replace(rolled)) }
            } else {
                changes.append(.add(rolled))
            }
        }
        return changes
    }
}
