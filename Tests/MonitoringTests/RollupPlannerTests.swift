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

@Suite struct DailyProfileRollupTests {
    let day = Date(timeIntervalSince1970: TimeInterval(1_800_000_000 - 1_800_000_000 % 86_400))

    func hourly(_ hour: Int, bytes: Int64, peak: Int64) -> TrafficSample {
        TrafficSample(orgNumber: "1001", converter: "conv-a", start: day.addingTimeInterval(TimeInterval(hour * 3600)), interval: 3600,
                      totals: .init(bytesIn: bytes, bytesOut: 1), peakBytes: peak)
    }

    @Test("hourly → daily carries the 24-hour profile; a stored daily without or with another profile is replaced")
    func dailyProfile() throws {
        // Hours 0, 5 and 23 have traffic; the others have no sample (0 in the profile).
        let sources = [hourly(0, bytes: 99, peak: 40), hourly(5, bytes: 9, peak: 7), hourly(23, bytes: 1_000_000, peak: 123_456)]
        let changes = RollupPlanner.plan(sources: sources, existing: [], interval: 86_400, now: day.addingTimeInterval(86_400))
        guard case .add(let rolled)? = changes.first, changes.count == 1 else { Issue.record("expected one add: \(changes)"); return }
        var bytes = [Int64](repeating: 0, count: 24), peaks = [Int64](repeating: 0, count: 24)
        (bytes[0], bytes[5], bytes[23]) = (100, 10, 1_000_001)
        (peaks[0], peaks[5], peaks[23]) = (40, 7, 123_456)
        #expect(rolled.hourlyBytes == bytes)
        #expect(rolled.hourlyPeakBytes == peaks)
        #expect(rolled.peakBytes == 123_456)
        #expect(rolled.hasProfile)
        try rolled.validate()
        // The entry attributes carry the profile as 24 comma-separated integers.
        let attributes = Dictionary(uniqueKeysWithValues: rolled.entryAttributes.map { ($0.0, $0.1) })
        #expect(attributes["tgHourlyBytes"] == ["100,0,0,0,0,10" + String(repeating: ",0", count: 17) + ",1000001"])
        #expect(TrafficSample.profile(try #require(attributes["tgHourlyPeakBytes"]?.first)) == peaks)
        // Stored as it is: nothing to do. Stored without a profile (older roll-up) or with a
        // different one: replaced.
        #expect(RollupPlanner.plan(sources: sources, existing: [rolled], interval: 86_400, now: day.addingTimeInterval(86_400)).isEmpty)
        var old = rolled
        old.hourlyBytes = nil
        old.hourlyPeakBytes = nil
        let replaced = RollupPlanner.plan(sources: sources, existing: [old], interval: 86_400, now: day.addingTimeInterval(86_400))
        #expect(replaced == [.replace(rolled)])
        var other = rolled
        other.hourlyPeakBytes?[5] = 8
        #expect(RollupPlanner.plan(sources: sources, existing: [other], interval: 86_400, now: day.addingTimeInterval(86_400)) == [.replace(rolled)])
        // Hourly roll-ups of 5-minute samples have no profile.
        let five = TrafficSample(orgNumber: "1001", converter: "conv-a", start: day, interval: 300, totals: .init(bytesIn: 5))
        guard case .add(let hour)? = RollupPlanner.plan(sources: [five], existing: [], interval: 3600, now: day.addingTimeInterval(3600)).first else {
            Issue.record("expected an hourly add"); return
        }
        #expect(hour.hourlyBytes == nil && hour.hourlyPeakBytes == nil)
    }

    @Test("profile encoding: exactly 24 non-negative integers")
    func profileEncoding() throws {
        let values = (0..<24).map { Int64($0) * 1_000_000_007 }
        #expect(TrafficSample.profile(TrafficSample.profileString(values)) == values)
        #expect(TrafficSample.profile(Array(repeating: "0", count: 23).joined(separator: ",")) == nil)
        #expect(TrafficSample.profile(Array(repeating: "0", count: 25).joined(separator: ",")) == nil)
        #expect(TrafficSample.profile("1,,2" + String(repeating: ",0", count: 21)) == nil)
        #expect(TrafficSample.profile("-1" + String(repeating: ",0", count: 23)) == nil)
        #expect(TrafficSample.profile("") == nil)
        var bad = TrafficSample(orgNumber: "1001", converter: "conv-a", start: day, interval: 3600, hourlyBytes: values, hourlyPeakBytes: values)
        #expect(throws: InvalidFieldError.self) { try bad.validate() }
        bad.interval = 86_400
        try bad.validate()
    }
}
