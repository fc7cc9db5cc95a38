import Directory
import Foundation
import LDAPClient
import Logging
import Monitoring
import Testing

/// Group commit of collected traffic pages (``CollectionCommitter``) against slapd.
@Suite("monitor: collection batches (group commit)")
struct CollectionCommitterTests {
    /// A page of one traffic and one access record of `converter`, seq `after+1…after+2`.
    private func page(_ converter: MonitoredConverter, after: Int64, bytesIn: Int64, at time: Date) throws -> CollectedPage {
        var bucketer = TrafficBucketer(orgNumber: converter.orgNumber, converter: converter.name)
        var traffic = AgentRecord(seq: after + 1, kind: "traffic")
        traffic.start = AgentRecord.string(time)
        traffic.end = AgentRecord.string(time.addingTimeInterval(10))
        traffic.destination = "10.20.0.0/16"
        traffic.bytesIn = bytesIn
        traffic.bytesOut = 1
        try bucketer.add(traffic)
        var access = AgentRecord(seq: after + 2, kind: "access")
        access.time = AgentRecord.string(time)
        access.destination = "10.20.0.5"
        access.allow = true
        try bucketer.add(access)
        return CollectedPage(converter: converter, after: after, last: after + 2, bucketer: bucketer)
    }

    /// Commits `pages` concurrently; the error text of each failed converter by name.
    private func commitAll(_ committer: CollectionCommitter, _ pages: [CollectedPage]) async -> [String: String] {
        await withTaskGroup(of: (String, String?).self) { group in
            for page in pages {
                group.addTask {
                    do {
                        try await committer.commit(page)
                        return (page.converter.name, nil)
                    } catch {
                        return (page.converter.name, "\(error)")
                    }
                }
            }
            var failures: [String: String] = [:]
            for await (name, error) in group { if let error { failures[name] = error } }
            return failures
        }
    }

    @Test("a batch with a deleted converter commits the others exactly once; a later batch adds to them; a replayed page writes nothing")
    func failingConverterInBatch() async throws {
        let client = try await SharedSlapd.get().client()
        let store = DirectoryStore(client: client)
        let layout = store.layout
        let org = uniqueOrgNumber()
        try await store.addSubscriber(Subscriber(orgNumber: org, subscriberId: "\(org)-01", name: "Batch Org", mail: "ops@test.example"))
        let address = try #require(IPAddress("127.0.0.1"))
        var converters: [MonitoredConverter] = []
        for name in ["conv-b1", "conv-b2", "conv-b3", "conv-gone"] {
            if name != "conv-gone" {
                try await store.addConverter(Converter(name: name, orgNumber: org, address: address, state: "certified"))
            }
            converters.append(MonitoredConverter(dn: layout.converter(org, name), orgNumber: org, name: name, address: "127.0.0.1",
                                                 statusPort: 9443))
        }
        let time = TrafficSample.align(Date(), interval: 300).addingTimeInterval(30)
        // A batch closes only when full (4 pages): all four converters are in it; the one
        // without an entry is refused by the cursor check before the transaction, which
        // commits the other three together.
        let committer = CollectionCommitter(client: client, layout: layout,
                                            settings: .init(batchSize: 4, wait: .seconds(60), maxInFlight: 1),
                                            logger: Logger(label: "test"))
        let first = try converters.enumerated().map { try page($1, after: 0, bytesIn: Int64(100 * ($0 + 1)), at: time) }
        let failures = await commitAll(committer, first)
        #expect(Array(failures.keys) == ["conv-gone"], "\(failures)")
        var counts = await committer.takeCounts()
        #expect(counts.failedBatches == 0, "no transaction failed")
        #expect(counts.failedPages == 1)
        #expect(counts.pages == 3)
        #expect(counts.transactions == 1 && counts.largestBatch == 3, "the three good converters in one transaction")

        func stored() async throws -> [String: TrafficSample] {
            let entries = try await client.search(base: layout.traffic(org), scope: .oneLevel,
                                                  filter: .equal("objectClass", "tgTrafficSample"))
            return Dictionary(uniqueKeysWithValues: try entries.map { let s = try TrafficSample(entry: $0); return (s.converter, s) })
        }
        func cursor(_ name: String) async throws -> String? {
            try await client.read(layout.converter(org, name), attributes: ["tgTrafficCursor"])?["tgTrafficCursor"]
        }
        var samples = try await stored()
        #expect(samples.keys.sorted() == ["conv-b1", "conv-b2", "conv-b3"])
        #expect(samples["conv-b1"]?.totals.bytesIn == 100 && samples["conv-b2"]?.totals.bytesIn == 200
                && samples["conv-b3"]?.totals.bytesIn == 300)
        #expect(samples["conv-b2"]?.allowedAttempts == 1)
        for name in ["conv-b1", "conv-b2", "conv-b3"] { #expect(try await cursor(name) == "2", "cursor of \(name)") }

        // The next pages of the three good converters: one transaction, added to the
        // stored samples (read in one search), not counted twice.
        let good = Array(converters.prefix(3))
        let batched = CollectionCommitter(client: client, layout: layout,
                                          settings: .init(batchSize: 3, wait: .seconds(60), maxInFlight: 1),
                                          logger: Logger(label: "test"))
        let second = try good.map { try page($0, after: 2, bytesIn: 5, at: time) }
        #expect(await commitAll(batched, second).isEmpty)
        counts = await batched.takeCounts()
        #expect(counts.transactions == 1 && counts.pages == 3 && counts.largestBatch == 3 && counts.failedBatches == 0)
        samples = try await stored()
        #expect(samples["conv-b1"]?.totals.bytesIn == 105 && samples["conv-b2"]?.totals.bytesIn == 205
                && samples["conv-b3"]?.totals.bytesIn == 305)
        #expect(samples["conv-b1"]?.allowedAttempts == 2)
        for name in ["conv-b1", "conv-b2", "conv-b3"] { #expect(try await cursor(name) == "4", "cursor of \(name)") }

        // A page whose commit already happened (as after a lost commit answer) next to a
        // failing one: the cursor check sees the stored cursor and writes nothing again.
        let pair = CollectionCommitter(client: client, layout: layout,
                                       settings: .init(batchSize: 2, wait: .seconds(60), maxInFlight: 1),
                                       logger: Logger(label: "test"))
        let replay = [second[0], try page(converters[3], after: 2, bytesIn: 7, at: time)]
        let replayFailures = await commitAll(pair, replay)
        #expect(Array(replayFailures.keys) == ["conv-gone"], "\(replayFailures)")
        counts = await pair.takeCounts()
        #expect(counts.failedBatches == 0 && counts.failedPages == 1 && counts.pages == 1 && counts.transactions == 0)
        samples = try await stored()
        #expect(samples["conv-b1"]?.totals.bytesIn == 105, "not counted twice")
        #expect(try await cursor("conv-b1") == "4")

        try await store.removeSubscriber(org)
        await client.close()
    }
}
