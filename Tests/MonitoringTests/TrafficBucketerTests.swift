import Directory
import Foundation
import Monitoring
import Testing

@Suite struct TrafficBucketerTests {
    func traffic(_ seq: Int64, _ start: String, _ destination: String, bytesIn: Int64, bytesOut: Int64) -> AgentRecord {
        var record = AgentRecord(seq: seq, kind: "traffic")
        record.start = start
        record.end = start
        record.destination = destination
        record.bytesIn = bytesIn
        record.bytesOut = bytesOut
        record.packetsIn = 1
        record.packetsOut = 2
        return record
    }

    func access(_ seq: Int64, _ time: String, _ destination: String, allow: Bool) -> AgentRecord {
        var record = AgentRecord(seq: seq, kind: "access")
        record.time = time
        record.destination = destination
        record.allow = allow
        return record
    }

    @Test func recordsLandInTheirFiveMinuteBuckets() throws {
        var bucketer = TrafficBucketer(orgNumber: "1001", converter: "conv-a")
        try bucketer.add(traffic(1, "2026-12-04T10:00:00Z", "10.20.0.0/16", bytesIn: 100, bytesOut: 10))
        try bucketer.add(traffic(2, "2026-12-04T10:04:59Z", "10.30.0.0/16", bytesIn: 50, bytesOut: 5))
        try bucketer.add(traffic(3, "2026-12-04T10:05:00Z", "10.20.0.0/16", bytesIn: 7, bytesOut: 3))
        try bucketer.add(access(4, "2026-12-04T10:01:00Z", "10.20.3.4", allow: true))
        try bucketer.add(access(5, "2026-12-04T10:02:00Z", "10.20.3.4", allow: false))
        try bucketer.add(access(6, "2026-12-04T10:03:00Z", "10.20.3.4", allow: false))
        var dropped = AgentRecord(seq: 7, kind: "dropped")
        dropped.count = 17
        try bucketer.add(dropped)
        #expect(bucketer.samples.count == 2)
        #expect(bucketer.dropped == 17)
        #expect(bucketer.counted == 6)
        let firstStart = try #require(AgentRecord.date("2026-12-04T10:00:00Z"))
        let secondStart = try #require(AgentRecord.date("2026-12-04T10:05:00Z"))
        let first = try #require(bucketer.samples[firstStart])
        #expect(first.interval == 300)
        #expect(first.totals.bytesIn == 150 && first.totals.bytesOut == 15 && first.totals.packetsIn == 2)
        #expect(first.peakBytes == 165)
        #expect(first.breakdown.destinations["10.20.0.0/16"]?.bytesIn == 100)
        #expect(first.breakdown.destinations["10.30.0.0/16"]?.bytesOut == 5)
        #expect(first.allowedAttempts == 1 && first.deniedAttempts == 2)
        #expect(first.breakdown.denied == ["10.20.3.4": 2])
        #expect(first.rdnValue == "conv-a.300.20261204100000Z")
        let second = try #require(bucketer.samples[secondStart])
        #expect(second.totals.bytesIn == 7)
    }

    @Test func aRecordWithoutTimeIsRejected() {
        var bucketer = TrafficBucketer(orgNumber: "1001", converter: "conv-a")
        #expect(throws: MonitorError.self) { try bucketer.add(AgentRecord(seq: 1, kind: "traffic")) }
        #expect(bucketer.samples.isEmpty)
    }

    @Test func mergingAddsCountersAndSplits() throws {
        var a = TrafficBucketer(orgNumber: "1001", converter: "conv-a")
        try a.add(traffic(1, "2026-12-04T10:00:00Z", "10.20.0.0/16", bytesIn: 100, bytesOut: 10))
        try a.add(access(2, "2026-12-04T10:01:00Z", "10.9.9.9", allow: false))
        var b = TrafficBucketer(orgNumber: "1001", converter: "conv-a")
        try b.add(traffic(3, "2026-12-04T10:02:00Z", "10.20.0.0/16", bytesIn: 1, bytesOut: 2))
        try b.add(traffic(4, "2026-12-04T10:03:00Z", "10.40.0.0/16", bytesIn: 5, bytesOut: 5))
        try b.add(access(5, "2026-12-04T10:04:00Z", "10.9.9.9", allow: false))
        let stored = try #require(a.samples.values.first)
        let merged = TrafficBucketer.merge(stored, try #require(b.samples.values.first))
        #expect(merged.totals.bytesIn == 106 && merged.totals.bytesOut == 17)
        #expect(merged.peakBytes == 123)
        #expect(merged.breakdown.destinations["10.20.0.0/16"]?.bytesIn == 101)
        #expect(merged.breakdown.destinations["10.40.0.0/16"]?.bytesIn == 5)
        #expect(merged.breakdown.denied == ["10.9.9.9": 2])
        #expect(merged.deniedAttempts == 2)
        #expect(merged.start == stored.start && merged.interval == 300)
    }

    @Test func pagesDecodeFromTheContractJSON() throws {
        let json = """
        {"records":[{"seq":1,"kind":"traffic","start":"2026-12-04T10:00:00Z","end":"2026-12-04T10:01:00Z","child":"dst-1","destination":"10.20.0.0/16","bytesIn":1,"bytesOut":2,"packetsIn":1,"packetsOut":1},
        {"seq":2,"kind":"access","time":"2026-12-04T10:00:30Z","destination":"10.20.3.4","protocol":"tcp","port":443,"allow":false,"reason":"no rule","source":"10.10.1.7"},
        {"seq":3,"kind":"dropped","count":17}],"last":3,"more":false}
        """
        let page = try JSONDecoder().decode(TrafficPage.self, from: Data(json.utf8))
        #expect(page.records.count == 3 && page.last == 3 && !page.more)
        #expect(page.records[1].allow == false && page.records[1].port == 443)
        #expect(page.records[2].count == 17)
    }
}
