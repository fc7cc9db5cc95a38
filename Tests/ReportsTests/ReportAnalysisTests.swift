import Crypto
import Directory
import Foundation
import Reports
import Testing

/// The report figures on known sample sets.
@Suite("Report analysis")
struct ReportAnalysisTests {
    static let day = ReportPeriod.parseDay("2026-11-30")!  // a Monday

    static func sample(_ converter: String, _ start: Date, interval: Int = 300, bytesIn: Int64, bytesOut: Int64 = 0, packets: Int64 = 0,
                       peak: Int64? = nil, denied: Int = 0, destinations: [String: Int64] = [:], deniedTo: [String: Int] = [:]) -> TrafficSample {
        TrafficSample(orgNumber: "1001", converter: converter, start: start, interval: interval,
                      totals: .init(bytesIn: bytesIn, bytesOut: bytesOut, packetsIn: packets, packetsOut: 0),
                      peakBytes: peak, deniedAttempts: denied,
                      breakdown: .init(destinations: destinations.mapValues { .init(bytesIn: $0) }, denied: deniedTo))
    }

    static func event(_ converter: String, _ time: Date, from: String, to: String) -> HistoryEvent {
        HistoryEvent(type: "converter.\(to)", orgNumber: "1001", converter: converter, actor: "monitor",
                     data: "{\"from\":\"\(from)\",\"to\":\"\(to)\",\"reason\":\"test\"}", time: time)
    }

    @Test("day: totals from 5-minute samples, an overlapping hourly roll-up is not counted twice, p95 by nearest rank")
    func totalsAndPercentile() {
        var samples: [TrafficSample] = []
        for i in 1...100 {
            samples.append(Self.sample("conv-a", Self.day.addingTimeInterval(Double(i * 300)), bytesIn: Int64(i) * 600, bytesOut: Int64(i) * 400, packets: 2))
        }
        // The roll-up of hour 0 (would double-count if used together with its 5-minute samples).
        samples.append(Self.sample("conv-a", Self.day, interval: 3600, bytesIn: 999_999_999))
        // A sample of the next day is outside the period.
        samples.append(Self.sample("conv-a", Self.day.addingTimeInterval(86_400), bytesIn: 7_777))
        let r = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .day, start: Self.day,
                                       converters: ["conv-a", "conv-b"], samples: samples, events: [])
        let a = r.converters.first { $0.name == "conv-a" }!
        #expect(a.bytesIn == 600 * 5050)
        #expect(a.bytesOut == 400 * 5050)
        #expect(a.packets == 200)
        #expect(a.series.count == 288)
        // 288 slots, 188 of them 0: rank ceil(0.95 × 288) = 274 → the 86th non-zero value (86,000 bytes).
        #expect(a.p95BytesPerSecond == 86_000.0 / 300)
        #expect(a.peakBytesPerSecond == 100_000.0 / 300)
        #expect(r.total.bytes == 1000 * 5050)
        #expect(r.converters.map(\.name) == ["conv-a", "conv-b"])
        #expect(r.converters[1].bytes == 0)
        #expect(r.sampleCount == 100)
    }

    @Test("week: hourly samples are preferred; hours with only 5-minute samples use those")
    func weekUsesHourly() {
        let samples = [
            Self.sample("conv-a", Self.day, interval: 3600, bytesIn: 3_600_000, peak: 500_000),
            Self.sample("conv-a", Self.day, interval: 300, bytesIn: 1),  // superseded by the roll-up
            Self.sample("conv-a", Self.day.addingTimeInterval(7200), interval: 300, bytesIn: 1_000),
            Self.sample("conv-a", Self.day.addingTimeInterval(7500), interval: 300, bytesIn: 2_000),
            Self.sample("conv-b", Self.day.addingTimeInterval(3600), interval: 3600, bytesIn: 360_000, peak: 100_000),
        ]
        let r = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .week, start: Self.day,
                                       converters: [], samples: samples, events: [])
        #expect(r.slotSeconds == 3600)
        #expect(r.total.series.count == 168)
        #expect(r.converters.first { $0.name == "conv-a" }?.bytesIn == 3_603_000)
        #expect(r.total.bytesIn == 3_963_000)
        #expect(r.converters.first { $0.name == "conv-a" }?.peakBytesPerSecond == 500_000.0 / 300)
        // Total peak adds the converters' peaks slot by slot: different hours here.
        #expect(r.total.peakBytesPerSecond == 500_000.0 / 300)
    }

    @Test("month: daily roll-ups with their hourly profile give the same figures as the hourly samples they replace")
    func monthFromDailyRollUps() throws {
        let month = try #require(ReportPeriod.parseDay("2026-11-01"))
        let first = try #require(ReportPeriod.parseDay("2026-07-01")), end = try #require(ReportPeriod.parseDay("2026-12-01"))
        // Hourly samples (some hours without any, one hour a day as twelve 5-minute samples) for July to November.
        var fine: [TrafficSample] = []
        var hour = first
        while hour < end {
            for (c, converter) in ["conv-a", "conv-b"].enumerated() {
                let h = Int64(hour.timeIntervalSince(first) / 3600)
                if (h * 7 + Int64(c)) % 11 == 0 { continue }  // no traffic this hour
                let bytes = (h * 2_654_435_761 + Int64(c) * 97) % 10_000_000 + 1
                let destinations: [String: Int64] = ["10.\(c).0.0/16": bytes / 3, "192.0.2.0/24": bytes - bytes / 3]
                let deniedTo: [String: Int] = h % 5 == 0 ? [:] : ["198.51.100.\(h % 3)": Int(h % 5)]
                if h % 24 == 3 {
                    for k in 0..<12 {
                        let part = bytes / 12 + Int64(k)
                        fine.append(Self.sample(converter, hour.addingTimeInterval(Double(k * 300)), bytesIn: part, bytesOut: part / 2, packets: 3,
                                                denied: k == 0 ? Int(h % 5) : 0, destinations: ["10.\(c).0.0/16": part],
                                                deniedTo: k == 0 ? deniedTo : [:]))
                    }
                } else {
                    fine.append(Self.sample(converter, hour, interval: 3600, bytesIn: bytes, bytesOut: bytes / 4, packets: 10,
                                            peak: bytes / (2 + h % 5), denied: deniedTo.values.reduce(0, +),
                                            destinations: destinations, deniedTo: deniedTo))
                }
            }
            hour = hour.addingTimeInterval(3600)
        }
        // The same as daily roll-ups (as RollupService writes them), except the last day of the
        // month and one baseline day (not rolled up yet: their hourly samples are used).
        // Baseline roll-ups are stripped to the byte counts the report reads of them.
        let notRolledUp: Set<Date> = [end.addingTimeInterval(-86_400), try #require(ReportPeriod.parseDay("2026-08-15"))]
        var daily: [TrafficSample] = []
        let byDay = Dictionary(grouping: fine) { [$0.converter, GeneralizedTime.string(TrafficSample.align($0.start, interval: 86_400))] }
        for (key, samples) in byDay {
            let dayStart = TrafficSample.align(samples[0].start, interval: 86_400)
            if notRolledUp.contains(dayStart) {
                daily += samples
                continue
            }
            var rolled = TrafficSample.rollUp(samples, orgNumber: "1001", converter: key[0], start: dayStart, interval: 86_400)
            #expect(rolled.hasProfile)
            if dayStart < month {
                rolled = TrafficSample(orgNumber: "1001", converter: key[0], start: dayStart, interval: 86_400,
                                       totals: .init(bytesIn: rolled.totals.bytesIn, bytesOut: rolled.totals.bytesOut))
            }
            daily.append(rolled)
        }
        #expect(daily.count < fine.count / 20)
        let byHour = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .month, start: month,
                                            converters: ["conv-a", "conv-b", "conv-c"], samples: fine, events: [])
        var byDayReport = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .month, start: month,
                                                 converters: ["conv-a", "conv-b", "conv-c"], samples: daily.shuffled(), events: [])
        #expect(byHour.total.bytes > 0 && byHour.total.deniedAttempts > 0)
        #expect(byHour.total.series.count == 720)
        #expect(byDayReport.total == byHour.total)
        #expect(byDayReport.converters == byHour.converters)
        #expect(byDayReport.total.series == byHour.total.series)
        #expect(byDayReport.total.p95BytesPerSecond == byHour.total.p95BytesPerSecond)
        #expect(byDayReport.total.peakBytesPerSecond == byHour.total.peakBytesPerSecond)
        #expect(byDayReport.topDestinations == byHour.topDestinations)
        #expect(byDayReport.topDenied == byHour.topDenied)
        #expect(byDayReport.anomalies == byHour.anomalies)
        #expect(byHour.anomalies.first?.baselinePeriods == 4)
        #expect(byDayReport.sampleCount < byHour.sampleCount)
        byDayReport.sampleCount = byHour.sampleCount
        #expect(byDayReport == byHour)
    }

    @Test("week: a daily roll-up without a profile (older data) fills its hours with its mean")
    func dailyWithoutProfile() {
        let samples = [Self.sample("conv-a", Self.day, interval: 86_400, bytesIn: 2_400, peak: 700)]
        let r = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .week, start: Self.day,
                                       converters: [], samples: samples, events: [])
        #expect(r.total.bytesIn == 2_400)
        #expect(Array(r.total.series.prefix(25)) == Array(repeating: 100, count: 24) + [0])
        #expect(r.total.peakBytesPerSecond == 700.0 / 300)
    }

    @Test("availability counts down time across the period's edges; degraded is not down")
    func availabilityAcrossEdges() {
        let start = Self.day, end = start.addingTimeInterval(86_400)
        let events = [
            Self.event("conv-a", start.addingTimeInterval(-3600), from: "up", to: "down"),      // down before the period
            Self.event("conv-a", start.addingTimeInterval(7200), from: "down", to: "up"),       // 2 h down inside
            Self.event("conv-a", start.addingTimeInterval(10_000), from: "up", to: "degraded"), // not down
            Self.event("conv-a", start.addingTimeInterval(11_000), from: "degraded", to: "up"),
            Self.event("conv-a", end.addingTimeInterval(-1800), from: "up", to: "down"),        // 30 min down at the end
            Self.event("conv-a", end.addingTimeInterval(3600), from: "down", to: "up"),         // after the period
            Self.event("conv-b", start.addingTimeInterval(-86_400), from: "up", to: "down"),    // down all period
        ]
        let r = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .day, start: start,
                                       converters: ["conv-a", "conv-b", "conv-c"], samples: [], events: events)
        let a = r.converters[0], b = r.converters[1], c = r.converters[2]
        #expect(a.downSeconds == 9000)
        #expect(a.availability == 1 - 9000.0 / 86_400)
        #expect(a.downIntervals == [[0, 7200], [84_600, 86_400]])
        #expect(b.availability == 0)
        #expect(c.availability == 1)
        #expect(r.total.availability == (a.availability! + 0 + 1) / 3)
    }

    @Test("anomaly: flagged against the previous four periods; no baseline says so")
    func anomalies() {
        var samples: [TrafficSample] = []
        for (k, bytes) in [(1, 1000), (2, 1100), (3, 900), (4, 1000)] {
            samples.append(Self.sample("conv-a", Self.day.addingTimeInterval(Double(-k) * 86_400), interval: 3600, bytesIn: Int64(bytes)))
        }
        samples.append(Self.sample("conv-a", Self.day, interval: 3600, bytesIn: 5000))
        samples.append(Self.sample("conv-b", Self.day, interval: 3600, bytesIn: 10))
        let r = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .day, start: Self.day,
                                       converters: [], samples: samples, events: [])
        let total = r.anomalies.first { $0.subject == "Total bytes" }!
        #expect(total.flagged)
        #expect(total.baselinePeriods == 4)
        #expect(total.baselineMean == 1000)
        let b = r.anomalies.first { $0.subject == "Bytes of conv-b" }!
        #expect(!b.flagged)
        #expect(b.baselineMean == nil)
        #expect(b.explanation.hasPrefix("no baseline"))

        // Within 50 % and 3 σ: not flagged.
        samples[4] = Self.sample("conv-a", Self.day, interval: 3600, bytesIn: 1050)
        let normal = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .day, start: Self.day,
                                            converters: [], samples: Array(samples.prefix(5)), events: [])
        #expect(normal.anomalies.first { $0.subject == "Total bytes" }?.flagged == false)
    }

    @Test("top destinations by bytes and top refused destinations")
    func tops() {
        let samples = [
            Self.sample("conv-a", Self.day, bytesIn: 600, denied: 5, destinations: ["10.0.0.0/8": 100, "10.20.0.0/16": 500], deniedTo: ["10.9.9.9": 5]),
            Self.sample("conv-b", Self.day, bytesIn: 50, denied: 9, destinations: ["10.0.0.0/8": 50], deniedTo: ["10.9.9.9": 2, "192.0.2.1": 7]),
        ]
        let r = ReportAnalysis.compute(orgNumber: "1001", organisation: "Org", period: .day, start: Self.day,
                                       converters: [], samples: samples, events: [])
        #expect(r.topDestinations.map(\.destination) == ["10.20.0.0/16", "10.0.0.0/8"])
        #expect(r.topDestinations.map(\.bytes) == [500, 150])
        #expect(r.topDenied.map(\.destination) == ["10.9.9.9", "192.0.2.1"])
        #expect(r.topDenied.map(\.denied) == [7, 7])
        #expect(r.total.deniedAttempts == 14)
    }

    @Test("periods: ISO weeks start on Monday, months on the 1st, UTC")
    func periods() {
        let wednesday = ReportPeriod.parseDay("2026-12-02")!
        #expect(ReportPeriod.week.start(containing: wednesday) == Self.day)
        #expect(ReportPeriod.month.start(containing: wednesday) == ReportPeriod.parseDay("2026-12-01"))
        #expect(ReportPeriod.month.end(from: ReportPeriod.parseDay("2026-02-01")!) == ReportPeriod.parseDay("2026-03-01"))
        #expect(ReportPeriod.day.lastComplete(before: wednesday.addingTimeInterval(3600)) == ReportPeriod.parseDay("2026-12-01"))
        #expect(ReportPeriod.parseDay("2026-02-31") == nil)
        #expect(ReportPeriod.dayString(Self.day) == "20261130")
    }

    @Test("links: the signature binds org, period, start and expiry")
    func links() throws {
        let key = SymmetricKey(size: .bits256)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let link = ReportLink(orgNumber: "1001", period: .day, start: Self.day, expires: 1_800_000_100, key: key)
        let ok = try ReportLink.verify(orgNumber: "1001", period: "day", day: "20261130", expires: "1800000100", signature: link.signature, key: key, now: now)
        #expect(ok.orgNumber == "1001")
        #expect(throws: ReportError.tampered) {
            try ReportLink.verify(orgNumber: "1002", period: "day", day: "20261130", expires: "1800000100", signature: link.signature, key: key, now: now)
        }
        #expect(throws: ReportError.tampered) {
            try ReportLink.verify(orgNumber: "1001", period: "day", day: "20261130", expires: "1800009999", signature: link.signature, key: key, now: now)
        }
        #expect(throws: ReportError.tampered) {
            try ReportLink.verify(orgNumber: "1001", period: "day", day: "20261130", expires: "1800000100", signature: link.signature, key: SymmetricKey(size: .bits256), now: now)
        }
        #expect(throws: ReportError.expired(Date(timeIntervalSince1970: 1_800_000_100))) {
            try ReportLink.verify(orgNumber: "1001", period: "day", day: "20261130", expires: "1800000100", signature: link.signature, key: key,
                                  now: now.addingTimeInterval(101))
        }
        #expect(link.pathAndQuery == "/reports/1001/day/20261130?exp=1800000100&sig=\(link.signature)")
    }

    @Test("the page escapes names and destinations and has no script")
    func escaping() {
        let nasty = "<script>alert('x')</script> & \"Co\""
        let samples = [Self.sample("gw<b>", Self.day, bytesIn: 10, denied: 1, destinations: ["<img src=x>": 10], deniedTo: ["a&b": 1])]
        let r = ReportAnalysis.compute(orgNumber: "1001", organisation: nasty, period: .day, start: Self.day, converters: [], samples: samples, events: [])
        let html = ReportPage.html(r)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(!html.contains("gw<b>"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;"))
        #expect(html.contains("a&amp;b"))
        #expect(html.contains("@media print"))
        for id in ["chart-traffic", "chart-availability", "chart-destinations", "chart-denied"] { #expect(html.contains("id=\"\(id)\"")) }
    }
}
