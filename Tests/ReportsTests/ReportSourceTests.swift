import Directory
import Foundation
@testable import Reports
import Testing

/// Which days a week or month report reads finer samples for.
@Suite("Report source")
struct ReportSourceTests {
    @Test("days without a daily roll-up, merged into ranges of consecutive days")
    func daysWithout() throws {
        let start = try #require(ReportPeriod.parseDay("2026-11-01")), end = try #require(ReportPeriod.parseDay("2026-12-01"))
        func day(_ n: Int) -> Date { start.addingTimeInterval(Double(n - 1) * 86_400) }
        let covered = (1...30).filter { ![3, 4, 10, 30].contains($0) }.map {
            TrafficSample(orgNumber: "1001", converter: "conv-a", start: day($0), interval: 86_400)
        }
        let ranges = ReportSource.daysWithout(covered, from: start, to: end)
        #expect(ranges.map(\.0) == [day(3), day(10), day(30)])
        #expect(ranges.map(\.1) == [day(5), day(11), end])
        #expect(ReportSource.daysWithout([], from: start, to: end).map(\.0) == [start])
        #expect(ReportSource.daysWithout([], from: start, to: end).map(\.1) == [end])
    }
}
