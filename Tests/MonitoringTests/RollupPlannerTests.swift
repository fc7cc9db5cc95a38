import Directory
import Foundation
import Monitoring
import Testing

@Suite struct RollupPlannerTests {
    let hour = Date(timeIntervalSince1970: TimeInterval(1_800_000_000 - 1_800_000_000 % 3600))

    func sample(_ offset: Int, bytes: Int64, converter: String = "conv-a") -> TrafficSample {
        TrafficSample(orgNumber: "1001", converter: converter, start: hour.addingTimeInterval(TimeInterval(offset)), interval: 300,
                      totals: .init(bytesIn: bytes, bytesOut: 0), deniedAttempts: 1,
                      breakdown: .init(destinations: ["d": .init(bytesIn: bytes)], denied: ["x": 1]))
    }

    @Test func completeHoursRollUpOnceIncompleteOnesWait() {
        let sources = (0..<12).map { sample($0 * 300, bytes: Int64($0 + 1)) } + [sample(3600, bytes: 100)]
        let changes = RollupPlanner.plan(sources: sources, existing: [], interval: 3600, now: hour.addingTimeInterval(3700))
        #expect(changes.count == 1, "the second hour is not complete")
        guard case .add(let rolled)? = changes.first else { Issue.record("expected an add"); return }
        #expect(rolled.interval == 3600 && rolled.start == hour)
        #expect(rolled.totals.bytesIn == 78)
        #expect(rolled.peakBytes == 12)
        #expect(rolled.deniedAttempts == 12 && rolled.breakdown.denied["x"] == 12)
        // Idempotent: with the roll-up stored, nothing to do.
        #expect(RollupPlanner.plan(sources: sources, existing: [rolled], interval: 3600, now: hour.addingTimeInterval(3700)).isEmpty)
        // A late 5-minute sample corrects the stored roll-up instead of duplicating it.
        let late = sources + [sample(0, bytes: 1000, converter: "conv-a")]
        let corrected = RollupPlanner.plan(sources: late, existing: [rolled], interval: 3600, now: hour.addingTimeInterval(3700))
        guard case .replace(let replaced)? = corrected.first, corrected.count == 1 else { Issue.record("expected one replace: \(corrected)"); return }
        #expect(replaced.totals.bytesIn == 1078)
    }

    @Test func convertersAreRolledUpSeparately() {
        let sources = [sample(0, bytes: 1), sample(0, bytes: 2, converter: "conv-b")]
        let changes = RollupPlanner.plan(sources: sources, existing: [], interval: 3600, now: hour.addingTimeInterval(7200))
        #expect(changes.count == 2)
    }
}
