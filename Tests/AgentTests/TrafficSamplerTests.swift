@testable import Agent
import Foundation
import Testing

/// The sampler's delta logic on `swanctl --list-sas --raw` text as strongSwan 5.9.8 prints it.
@Suite("Traffic sampler: per-CHILD_SA deltas across rekey and restart")
struct TrafficSamplerTests {
    /// One IKE_SA with the given CHILD_SAs (uniqueid, spi-in, bytes-in, packets-in, bytes-out, packets-out).
    func raw(_ children: [(id: Int, spi: String, bytesIn: Int, packetsIn: Int, bytesOut: Int, packetsOut: Int)], state: String = "INSTALLED") -> String {
        let sas = children.map { child in
            "to-b-\(child.id) {name=to-b uniqueid=\(child.id) reqid=1 state=\(state) mode=TUNNEL protocol=ESP encap=yes spi-in=\(child.spi) "
                + "spi-out=cd5e7a1\(child.id) encr-alg=AES_CBC encr-keysize=256 integ-alg=HMAC_SHA2_256_128 bytes-in=\(child.bytesIn) "
                + "packets-in=\(child.packetsIn) use-in=0 bytes-out=\(child.bytesOut) packets-out=\(child.packetsOut) use-out=0 "
                + "rekey-time=3265 life-time=3865 install-time=5 local-ts=[10.99.131.1/32] remote-ts=[10.99.131.2/32[udp/7777]]}"
        }.joined(separator: " ")
        return "list-sa event {tollgate {uniqueid=1 version=2 state=ESTABLISHED local-host=10.99.31.1 local-port=4500 local-id=10.99.31.1 "
            + "remote-host=10.99.31.2 remote-port=4500 remote-id=10.99.31.2 initiator=yes child-sas {\(sas)}}}\n"
    }

    func children(_ text: String) -> [ChildSAState] { SwanctlRaw.listSAs(text).flatMap(\.children) }

    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("counters and identity of a CHILD_SA are parsed; the destination is the remote TS without its port part")
    func parsed() throws {
        let child = try #require(children(raw([(7, "c3a2b1f0", 1028, 1, 2056, 2)])).first)
        #expect(child.uniqueID == "7" && child.spiIn == "c3a2b1f0" && child.bytesIn == 1028 && child.packetsOut == 2)
        #expect(child.installSeconds == 5)
        #expect(TrafficSampler.key(child) == "7/c3a2b1f0")
        #expect(TrafficSampler.destination(child) == "10.99.131.2/32")
    }

    @Test("first sight counts from zero, then only the growth; an idle round writes no record")
    func deltas() {
        let first = TrafficSampler.round(previous: [:], children: children(raw([(1, "c1", 1000, 10, 2000, 20)])), now: t0, interval: .seconds(60))
        #expect(first.records.count == 1)
        #expect(first.records.first?.bytesIn == 1000 && first.records.first?.bytesOut == 2000 && first.records.first?.packetsOut == 20)
        #expect(first.records.first?.child == "to-b" && first.records.first?.destination == "10.99.131.2/32")
        #expect(first.records.first?.end == "2027-01-15T08:00:00Z")
        let second = TrafficSampler.round(previous: first.readings, children: children(raw([(1, "c1", 1500, 15, 2100, 21)])),
                                          now: t0.addingTimeInterval(60), interval: .seconds(60))
        #expect(second.records.count == 1)
        #expect(second.records.first?.bytesIn == 500 && second.records.first?.bytesOut == 100 && second.records.first?.packetsIn == 5)
        #expect(second.records.first?.start == "2027-01-15T08:00:00Z" && second.records.first?.end == "2027-01-15T08:01:00Z")
        let idle = TrafficSampler.round(previous: second.readings, children: children(raw([(1, "c1", 1500, 15, 2100, 21)])),
                                        now: t0.addingTimeInterval(120), interval: .seconds(60))
        #expect(idle.records.isEmpty)
    }

    @Test("rekey: the new CHILD_SA (new unique id) counts from zero, the old one's growth is added, both in one record")
    func rekey() {
        let before = TrafficSampler.round(previous: [:], children: children(raw([(1, "c1", 1000, 10, 1000, 10)])), now: t0, interval: .seconds(60))
        let during = TrafficSampler.round(previous: before.readings,
                                          children: children(raw([(1, "c1", 1200, 12, 1000, 10), (2, "c2", 300, 3, 400, 4)])),
                                          now: t0.addingTimeInterval(60), interval: .seconds(60))
        #expect(during.records.count == 1)
        #expect(during.records.first?.bytesIn == 500 && during.records.first?.bytesOut == 400 && during.records.first?.packetsIn == 5)
        // The old CHILD_SA is gone; the new one only grew by its own delta.
        let after = TrafficSampler.round(previous: during.readings, children: children(raw([(2, "c2", 350, 4, 400, 4)])),
                                         now: t0.addingTimeInterval(120), interval: .seconds(60))
        #expect(after.records.first?.bytesIn == 50 && after.records.first?.bytesOut == 0 && after.records.first?.packetsIn == 1)
        #expect(Set(after.readings.keys) == ["2/c2"])
    }

    @Test("charon restart: the same unique id with a new SPI, or counters that went down, count from zero")
    func restart() {
        let before = TrafficSampler.round(previous: [:], children: children(raw([(1, "c1", 5000, 50, 5000, 50)])), now: t0, interval: .seconds(60))
        // Unique ids start at 1 again after a restart; the SPI differs, so 7000 is all new.
        let newSPI = TrafficSampler.round(previous: before.readings, children: children(raw([(1, "d9", 7000, 70, 10, 1)])),
                                          now: t0.addingTimeInterval(60), interval: .seconds(60))
        #expect(newSPI.records.first?.bytesIn == 7000 && newSPI.records.first?.bytesOut == 10)
        // Same key but a counter went down (reset): counts from zero.
        let reset = TrafficSampler.round(previous: before.readings, children: children(raw([(1, "c1", 100, 1, 9000, 90)])),
                                         now: t0.addingTimeInterval(60), interval: .seconds(60))
        #expect(reset.records.first?.bytesIn == 100 && reset.records.first?.bytesOut == 9000)
    }

    @Test("agent restart: readings kept in the journal mean nothing is counted twice and nothing is lost")
    func agentRestart() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tg-sampler-\(UUID().uuidString)").path
        do {
            let journal = try TrafficJournal(directory: directory)
            let round = TrafficSampler.round(previous: journal.readings, children: children(raw([(1, "c1", 1000, 10, 1000, 10)])),
                                             now: t0, interval: .seconds(60))
            try journal.appendTraffic(round.records, readings: round.readings)
        }
        let journal = try TrafficJournal(directory: directory)
        let round = TrafficSampler.round(previous: journal.readings, children: children(raw([(1, "c1", 1300, 13, 1000, 10)])),
                                         now: t0.addingTimeInterval(60), interval: .seconds(60))
        try journal.appendTraffic(round.records, readings: round.readings)
        let records = try journal.read(after: 0, limit: 10).records
        #expect(records.map { $0.bytesIn ?? 0 }.reduce(0, +) == 1300, "\(records)")
        #expect(records.map { $0.bytesOut ?? 0 }.reduce(0, +) == 1000)
    }
}
