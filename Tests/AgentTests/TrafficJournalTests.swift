@testable import Agent
import Foundation
import Testing

@Suite("Traffic journal: append, read, acknowledge, restart, torn line, bound")
struct TrafficJournalTests {
    func scratch() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tg-journal-\(UUID().uuidString)").path
        return path
    }

    func traffic(_ child: String, _ destination: String, bytes: UInt64, at second: Double) -> JournalRecord {
        .traffic(child: child, destination: destination, start: Date(timeIntervalSince1970: 1_800_000_000 + second),
                 end: Date(timeIntervalSince1970: 1_800_000_060 + second), bytesIn: bytes, bytesOut: bytes * 2, packetsIn: 1, packetsOut: 2)
    }

    func access(_ destination: String, allow: Bool) -> JournalRecord {
        .access(time: Date(timeIntervalSince1970: 1_800_000_000), destination: destination, protocol: "tcp", port: 443, allow: allow,
                reason: allow ? "rule web" : "no rule", source: "10.10.1.7")
    }

    @Test("records get seq 1, 2, 3…; a read pages in seq order; after=S deletes every record ≤ S")
    func appendReadAcknowledge() throws {
        let journal = try TrafficJournal(directory: scratch())
        try journal.appendTraffic([traffic("to-b", "10.20.0.0/16", bytes: 100, at: 0), traffic("to-c", "10.30.0.0/16", bytes: 7, at: 0)],
                                  readings: [:])
        try journal.appendAccess([access("10.20.3.4", allow: false)])
        let first = try journal.read(after: 0, limit: 2)
        #expect(first.records.map(\.seq) == [1, 2] && first.last == 2 && first.more)
        #expect(first.records[0].kind == .traffic && first.records[0].bytesIn == 100 && first.records[0].destination == "10.20.0.0/16")
        #expect(first.records[0].start == "2027-01-15T08:00:00Z")
        #expect(journal.bufferedRecords == 3, "nothing acknowledged yet")
        let second = try journal.read(after: 2, limit: 10)
        #expect(second.records.map(\.seq) == [3] && second.last == 3 && !second.more)
        #expect(second.records[0].kind == .access && second.records[0].allow == false && second.records[0].port == 443)
        #expect(journal.bufferedRecords == 1, "1 and 2 are acknowledged and gone")
        let empty = try journal.read(after: 3, limit: 10)
        #expect(empty.records.isEmpty && empty.last == 3 && !empty.more)
        #expect(journal.bufferedRecords == 0)
        // The JSON is the contract's.
        let json = String(decoding: try JSONEncoder().encode(second.records[0]), as: UTF8.self)
        #expect(json.contains("\"kind\":\"access\"") && json.contains("\"source\":\"10.10.1.7\"") && !json.contains("bytesIn"), "\(json)")
    }

    @Test("seq, unacknowledged records and readings survive reopening; acknowledged ones stay gone")
    func survivesReopen() throws {
        let directory = scratch()
        do {
            let journal = try TrafficJournal(directory: directory)
            let reading = CounterReading(child: "to-b", destination: "10.20.0.0/16", bytesIn: 5, bytesOut: 6, packetsIn: 1, packetsOut: 1,
                                         time: "2027-01-15T08:00:00Z")
            try journal.appendTraffic([traffic("to-b", "10.20.0.0/16", bytes: 1, at: 0), traffic("to-b", "10.20.0.0/16", bytes: 2, at: 60)],
                                      readings: ["1/c1": reading])
            _ = try journal.read(after: 1, limit: 10)
        }
        let reopened = try TrafficJournal(directory: directory)
        #expect(reopened.readings["1/c1"]?.bytesOut == 6)
        #expect(reopened.lastSeq == 2)
        let page = try reopened.read(after: 1, limit: 10)
        #expect(page.records.map(\.seq) == [2] && page.records[0].bytesIn == 2)
        _ = try reopened.read(after: 2, limit: 10)
        let again = try TrafficJournal(directory: directory)
        #expect(again.bufferedRecords == 0)
        try again.appendAccess([access("10.1.1.1", allow: true)])
        #expect(try again.read(after: 2, limit: 10).records.map(\.seq) == [3], "seq keeps increasing after every record was deleted")
    }

    @Test("a torn last line (crash during a write) is ignored, not fatal, and later appends are intact")
    func tornLastLine() throws {
        let directory = scratch()
        do {
            let journal = try TrafficJournal(directory: directory)
            try journal.appendTraffic([traffic("to-b", "10.20.0.0/16", bytes: 1, at: 0)], readings: [:])
        }
        let file = directory + "/journal.jsonl"
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.seekToEndOfFile()
        handle.write(Data("{\"records\":[{\"seq\":2,\"kind\":\"traf".utf8))
        try handle.close()
        let reopened = try TrafficJournal(directory: directory)
        #expect(reopened.lastSeq == 1)
        try reopened.appendAccess([access("10.1.1.1", allow: false)])
        let third = try TrafficJournal(directory: directory)
        let page = try third.read(after: 0, limit: 10)
        #expect(page.records.map(\.seq) == [1, 2] && page.records[1].kind == .access, "\(page.records)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!text.contains("\"traf\""), "the torn fragment is gone after reopening")
    }

    @Test("full: traffic adds into the newest unread record of the same child and destination (no byte lost), access counts as dropped")
    func boundCoalescesAndDrops() throws {
        let directory = scratch()
        let journal = try TrafficJournal(directory: directory, maxRecords: 3)
        try journal.appendTraffic([traffic("to-b", "10.20.0.0/16", bytes: 10, at: 0), traffic("to-c", "10.30.0.0/16", bytes: 1, at: 0)],
                                  readings: [:])
        try journal.appendAccess([access("10.20.3.4", allow: false)])
        #expect(journal.bufferedRecords == 3)
        try journal.appendTraffic([traffic("to-b", "10.20.0.0/16", bytes: 5, at: 60)], readings: [:])
        try journal.appendAccess([access("10.20.3.5", allow: true), access("10.20.3.6", allow: false)])
        try journal.appendAccess([access("10.20.3.7", allow: true)])
        var page = try journal.read(after: 0, limit: 100)
        #expect(page.records.map(\.seq) == [1, 2, 3, 4], "\(page.records)")
        #expect(page.records[0].bytesIn == 15 && page.records[0].bytesOut == 30 && page.records[0].packetsIn == 2)
        #expect(page.records[0].start == "2027-01-15T08:00:00Z" && page.records[0].end == "2027-01-15T08:02:00Z")
        #expect(page.records[3].kind == .dropped && page.records[3].count == 3)
        // Handed-out records are never changed again: with the journal still full, new
        // traffic of to-b gets a record of its own (the bound is exceeded by at most one per
        // child and destination) and later traffic goes into that one.
        try journal.appendTraffic([traffic("to-b", "10.20.0.0/16", bytes: 4, at: 120)], readings: [:])
        try journal.appendTraffic([traffic("to-b", "10.20.0.0/16", bytes: 3, at: 180)], readings: [:])
        page = try journal.read(after: 4, limit: 100)
        #expect(page.records.map(\.seq) == [5] && page.records[0].bytesIn == 7, "\(page.records)")
        // The coalesced versions survive a restart as the latest version.
        let reopened = try TrafficJournal(directory: directory, maxRecords: 3)
        #expect(try reopened.read(after: 4, limit: 100).records.first?.bytesIn == 7)
    }

    @Test("acknowledged records are compacted away on disk; seq and the rest survive the rewrite")
    func compaction() throws {
        let directory = scratch()
        let journal = try TrafficJournal(directory: directory)
        for round in 0..<30 {
            try journal.appendTraffic((0..<100).map { traffic("to-\($0)", "10.\($0).0.0/16", bytes: UInt64(round), at: Double(round * 60)) },
                                      readings: [:])
        }
        let file = directory + "/journal.jsonl"
        let full = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        _ = try journal.read(after: 2990, limit: 1)
        let compacted = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        #expect(compacted < full / 10, "\(full) → \(compacted) bytes")
        let reopened = try TrafficJournal(directory: directory)
        #expect(reopened.lastSeq == 3000 && reopened.bufferedRecords == 10)
        #expect(try reopened.read(after: 2990, limit: 100).records.map(\.seq) == Array(2991...3000))
        _ = try reopened.read(after: 3000, limit: 1)
        try reopened.appendAccess([access("10.1.1.1", allow: true)])
        #expect(try TrafficJournal(directory: directory).read(after: 3000, limit: 10).records.map(\.seq) == [3001])
    }

    @Test("check's spool: lines appended by another writer are ingested once, a torn spool line is skipped")
    func accessSpool() throws {
        let directory = scratch()
        try TrafficJournal.spoolAccess(access("10.20.3.4", allow: false), journalDirectory: directory)
        try TrafficJournal.spoolAccess(access("10.20.3.5", allow: true), journalDirectory: directory)
        let handle = try #require(FileHandle(forWritingAtPath: directory + "/access.spool"))
        handle.seekToEndOfFile()
        handle.write(Data("{\"kind\":\"acc".utf8))
        try handle.close()
        let journal = try TrafficJournal(directory: directory)
        #expect(try journal.ingestSpool() == 2)
        #expect(try journal.ingestSpool() == 0)
        let page = try journal.read(after: 0, limit: 10)
        #expect(page.records.map(\.destination) == ["10.20.3.4", "10.20.3.5"] && page.records.map(\.seq) == [1, 2])
        #expect(!FileManager.default.fileExists(atPath: directory + "/access.spool"))
        // A spool renamed but not deleted before a crash, and already in the journal, is not ingested again.
        try TrafficJournal.spoolAccess(access("10.20.3.6", allow: true), journalDirectory: directory)
        let reopened = try TrafficJournal(directory: directory)
        #expect(try reopened.ingestSpool() == 1)
        let left = "access.spool.0-crash"
        try Data().write(to: URL(fileURLWithPath: directory + "/" + left))
        try reopened.appendAccess([], ingested: left)
        #expect(try reopened.ingestSpool() == 0)
        #expect(!FileManager.default.fileExists(atPath: directory + "/" + left))
        #expect(try reopened.read(after: 2, limit: 10).records.map(\.destination) == ["10.20.3.6"])
    }

    @Test("query parameters: defaults, bounds and bad values")
    func queryParameters() throws {
        let defaults = try StatusServer.trafficParameters("").get()
        #expect(defaults.after == 0 && defaults.limit == 1000)
        let given = try StatusServer.trafficParameters("after=42&limit=10000").get()
        #expect(given.after == 42 && given.limit == 10000)
        for bad in ["after=-1", "after=x", "limit=0", "limit=10001", "after=", "after=1&after=2", "limit=1e3",
                    "after=99999999999999999999999"] {
            guard case .failure = StatusServer.trafficParameters(Substring(bad)) else {
                Issue.record("\(bad) was accepted")
                continue
            }
        }
        #expect(try StatusServer.Listen.parse("off") == nil)
        #expect(try StatusServer.Listen.parse("[::1]:9443") == StatusServer.Listen(host: "::1", port: 9443))
        #expect(throws: AgentError.self) { try StatusServer.Listen.parse("9443") }
    }
}
