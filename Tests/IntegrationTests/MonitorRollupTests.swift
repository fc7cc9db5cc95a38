import Directory
import Foundation
import LDAPClient
import Logging
import Monitoring
import Testing

/// Roll-ups and retention of traffic samples against slapd.
@Suite("monitor: traffic roll-ups and retention")
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
}
