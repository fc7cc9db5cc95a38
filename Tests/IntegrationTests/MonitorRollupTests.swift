import Directory
import Foundation
import LDAPClient
import Logging
import Monitoring
import Reports
import Testing

/// Roll-ups and retention of traffic samples against slapd. Serialized: each test's
/// retention pass deletes old samples of every tenant, which must not race the other's.
@Suite("monitor: traffic roll-ups and retention", .serialized)
struct MonitorRollupTests {
    @Test("5-minute → hourly → daily once complete, idempotent, old samples deleted")
    func rollupsAndRetention() async throws {
        let client = try await SharedSlapd.get().client()
        let store = DirectoryStore(client: client)
        let org = uniqueOrgNumber()
        try await store.addSubscriber(Subscriber(orgNumber: org, subscriberId: "\(org)-01", name: "Rollup Org", mail: "ops@test.example"))
        let layout = store.layout
        let now = Date()
        func add(_ sample: TrafficSample) async throws {
            try await client.add(layout.trafficSample(org, sample.rdnValue), attributes: sample.entryAttributes)
        }
        // A complete hour three hours ago: twelve 5-minute samples.
        let hour = TrafficSample.align(now.addingTimeInterval(-3 * 3600), interval: 3600)
        for slot in 0..<12 {
            try await add(TrafficSample(orgNumber: org, converter: "conv-r", start: hour.addingTimeInterval(TimeInterval(slot * 300)),
                                        interval: 300, totals: .init(bytesIn: Int64(slot + 1), bytesOut: 1), deniedAttempts: 1,
                                        breakdown: .init(destinations: ["10.20.0.0/16": .init(bytesIn: Int64(slot + 1), bytesOut: 1)], denied: ["10.9.9.9": 1])))
        }
        // The current, incomplete hour: not rolled up yet.
        try await add(TrafficSample(orgNumber: org, converter: "conv-r", start: TrafficSample.align(now, interval: 300), interval: 300,
                                    totals: .init(bytesIn: 500)))
        // A complete day three days ago: 24 hourly samples.
        let day = TrafficSample.align(now.addingTimeInterval(-3 * 86_400), interval: 86_400)
        for slot in 0..<24 {
            try await add(TrafficSample(orgNumber: org, converter: "conv-r", start: day.addingTimeInterval(TimeInterval(slot * 3600)),
                                        interval: 3600, totals: .init(bytesIn: 10, bytesOut: 0), peakBytes: Int64(slot)))
        }
        // A 5-minute sample past its retention (2 days by default).
        let old = TrafficSample.align(now.addingTimeInterval(-5 * 86_400), interval: 300)
        try await add(TrafficSample(orgNumber: org, converter: "conv-r", start: old, interval: 300, totals: .init(bytesIn: 9)))

        let service = RollupService(settings: MonitorSettings(), client: client, layout: layout, logger: Logger(label: "test"))
        _ = try await service.pass(now: now)

        func samples(_ interval: Int) async throws -> [TrafficSample] {
            try await client.search(base: layout.traffic(org), scope: .oneLevel,
                                    filter: .and([.equal("objectClass", "tgTrafficSample"), .equal("tgSampleInterval", String(interval))]))
                .map { try TrafficSample(entry: $0) }
        }
        let hourly = try await samples(3600)
        let rolledHour = try #require(hourly.first { $0.start == hour })
        #expect(rolledHour.totals.bytesIn == 78 && rolledHour.totals.bytesOut == 12)
        #expect(rolledHour.peakBytes == 13)
        #expect(rolledHour.deniedAttempts == 12 && rolledHour.breakdown.denied["10.9.9.9"] == 12)
        #expect(rolledHour.breakdown.destinations["10.20.0.0/16"]?.bytesIn == 78)
        #expect(!hourly.contains { $0.start == TrafficSample.align(now, interval: 3600) }, "the current hour is not complete")
        let daily = try await samples(86_400)
        let rolledDay = try #require(daily.first { $0.start == day })
        #expect(rolledDay.totals.bytesIn == 240 && rolledDay.peakBytes == 23)
        #expect(rolledDay.hourlyBytes == Array(repeating: 10, count: 24), "the hourly profile is stored")
        #expect(rolledDay.hourlyPeakBytes == (0..<24).map { Int64($0) })
        let fiveMinute = try await samples(300)
        #expect(!fiveMinute.contains { $0.start == old }, "past retention: deleted")
        #expect(fiveMinute.count == 13)

        // A second pass changes nothing and duplicates nothing.
        let again = try await service.pass(now: now)
        #expect(again.written == 0 && again.deleted == 0)
        #expect(try await samples(3600).count == hourly.count)
        #expect(try await samples(86_400).count == daily.count)
        try await store.removeSubscriber(org)
    }

    @Test("a month report whose hourly samples expired reads the month and its baseline from the daily roll-ups")
    func monthReportAfterRetention() async throws {
        let client = try await SharedSlapd.get().client()
        let store = DirectoryStore(client: client)
        let org = uniqueOrgNumber()
        try await store.addSubscriber(Subscriber(orgNumber: org, subscriberId: "\(org)-01", name: "Retention Org", mail: "ops@test.example"))
        let layout = store.layout
        let now = Date()
        // The month that started about 75 days ago ended more than 35 days (hourly retention) ago.
        let month = ReportPeriod.month.start(containing: now.addingTimeInterval(-75 * 86_400))
        var hourly: [TrafficSample] = []
        for k in 0...ReportAnalysis.baselinePeriods {
            let start = ReportPeriod.month.advance(month, by: -k)
            for (d, day) in [0, 9, 19].enumerated() {
                for (h, hour) in [2, 13].enumerated() {
                    for (c, converter) in ["conv-x", "conv-y"].enumerated() {
                        let bytes = Int64(1_000_000 * (k == 0 ? 3 : 1) + 10_000 * d + 1_000 * h + 100 * c + k)
                        hourly.append(TrafficSample(orgNumber: org, converter: converter,
                                                    start: start.addingTimeInterval(TimeInterval(day * 86_400 + hour * 3600)), interval: 3600,
                                                    totals: .init(bytesIn: bytes, bytesOut: bytes / 2, packetsIn: 10, packetsOut: 5),
                                                    peakBytes: bytes / 7, deniedAttempts: c + 1,
                                                    breakdown: .init(destinations: ["10.\(c).0.0/16": .init(bytesIn: bytes, bytesOut: bytes / 2)],
                                                                     denied: ["198.51.100.\(c)": c + 1])))
                    }
                }
            }
        }
        for sample in hourly {
            try await client.add(layout.trafficSample(org, sample.rdnValue), attributes: sample.entryAttributes)
        }
        let expected = ReportAnalysis.compute(orgNumber: org, organisation: "Retention Org", period: .month, start: month,
                                              converters: ["conv-x", "conv-y"], samples: hourly, events: [])
        // A roll-up pass that still sees every hourly sample (long hourly retention), then the
        // default retention, which deletes them.
        var longHourly = MonitorSettings()
        longHourly.retainHourly = 300 * 86_400
        let logger = Logger(label: "test")
        _ = try await RollupService(settings: longHourly, client: client, layout: layout, logger: logger).pass(now: now)
        _ = try await RollupService(settings: MonitorSettings(), client: client, layout: layout, logger: logger).pass(now: now)
        let left = try await client.search(base: layout.traffic(org), scope: .oneLevel,
                                           filter: .and([.equal("objectClass", "tgTrafficSample"), .equal("tgSampleInterval", "3600")]),
                                           attributes: ["1.1"])
        #expect(left.isEmpty, "hourly samples past retention are deleted")
        let daily = try await client.search(base: layout.traffic(org), scope: .oneLevel,
                                            filter: .and([.equal("objectClass", "tgTrafficSample"), .equal("tgSampleInterval", "86400")]))
            .map { try TrafficSample(entry: $0) }
        #expect(daily.count == 5 * 3 * 2)
        #expect(daily.allSatisfy { $0.hasProfile })

        let report = try await ReportSource(store: store).analysis(orgNumber: org, period: .month, start: month)
        #expect(report.total.bytes == expected.total.bytes && report.total.bytes > 0)
        #expect(report.total == expected.total)
        #expect(report.converters == expected.converters)
        #expect(report.topDestinations == expected.topDestinations && report.topDenied == expected.topDenied)
        #expect(report.total.series[2] > 0 && report.total.series[13] > 0 && report.total.series[3] == 0, "hourly chart from the profile")
        let total = try #require(report.anomalies.first { $0.subject == "Total bytes" })
        #expect(total.baselinePeriods == 4, "the baseline comes from the daily roll-ups")
        #expect(total.flagged, "three times the baseline")
        #expect(report.anomalies == expected.anomalies)
        try await store.removeSubscriber(org)
    }
}
