import Directory
import Foundation
import LDAPClient
import Logging

/// Collects an agent's traffic and access records into 5-minute samples.
///
/// Per page (`GET /v1/traffic?after=<cursor>&limit=N`): the records are bucketed, the
/// samples they touch are read, and the merged samples plus the new `tgTrafficCursor`
/// are written in **one** LDAP transaction. Only after that commit is the next request
/// sent with `after` = the new cursor, which acknowledges the records to the agent. So a
/// crash before the commit re-reads the same records (nothing was written), and a crash
/// after it continues from the stored cursor (nothing is counted twice). In the steady
/// state (fewer records per cycle than a page) that is one transaction per converter and
/// cycle. The collector is the only writer of a converter's samples and cursor.
public struct TrafficCollector: Sendable {
    public let client: LDAPClient
    public let layout: DirectoryLayout
    public let pageSize: Int
    public let pagesPerCycle: Int
    let metrics: MonitorMetrics
    let logger: Logger

    public init(client: LDAPClient, layout: DirectoryLayout, pageSize: Int, pagesPerCycle: Int, metrics: MonitorMetrics = MonitorMetrics(),
                logger: Logger) {
        self.client = client
        self.layout = layout
        self.pageSize = pageSize
        self.pagesPerCycle = max(1, pagesPerCycle)
        self.metrics = metrics
        self.logger = logger
    }

    /// The result of one collection.
    public struct Result: Sendable {
        public var cursor: Int64
        public var records: Int
        public var transactions: Int
    }

    /// Collects from `converter` (starting at its stored cursor) over `connection`.
    public func collect(_ converter: MonitoredConverter, over connection: AgentConnection) async throws -> Result {
        var cursor = converter.cursor
        var result = Result(cursor: cursor, records: 0, transactions: 0)
        for _ in 0..<pagesPerCycle {
            let response = try await connection.get("/v1/traffic?after=\(cursor)&limit=\(pageSize)")
            guard response.status == 200 else {
                throw MonitorError.protocolViolation("GET /v1/traffic answered \(response.status): \(String(buffer: response.body).prefix(200))")
            }
            let page: TrafficPage
            do {
                page = try JSONDecoder().decode(TrafficPage.self, from: Data(response.body.readableBytesView))
            } catch {
                throw MonitorError.protocolViolation("GET /v1/traffic: not the contract's JSON (\(error))")
            }
            guard page.last >= cursor else {
                throw MonitorError.protocolViolation("GET /v1/traffic?after=\(cursor) answered last=\(page.last), before the cursor")
            }
            if page.last == cursor { break }
            var bucketer = TrafficBucketer(orgNumber: converter.orgNumber, converter: converter.name)
            for record in page.records where record.seq > cursor && record.seq <= page.last {
                try bucketer.add(record)
            }
            let writes = try await writes(for: bucketer, converter: converter, cursor: page.last)
            try await client.transaction(writes)
            cursor = page.last
            result.cursor = cursor
            result.records += bucketer.counted
            result.transactions += 1
            metrics.collectedRecords.increment(by: bucketer.counted)
            if bucketer.dropped > 0 {
                metrics.droppedRecords.increment(by: Int(bucketer.dropped))
                logger.warning("agent dropped records before collection", metadata: ["converter": "\(converter.orgNumber)-\(converter.name)", "count": "\(bucketer.dropped)"])
            }
            if let newest = bucketer.newest { metrics.collectionLag.record(max(0, Date().timeIntervalSince(newest))) }
            if !page.more { break }
        }
        return result
    }

    /// The sample adds/updates of `bucketer` merged with what is stored, and the cursor.
    func writes(for bucketer: TrafficBucketer, converter: MonitoredConverter, cursor: Int64) async throws -> [LDAPWrite] {
        var writes: [LDAPWrite] = []
        for (_, sample) in bucketer.samples.sorted(by: { $0.key < $1.key }) {
            let dn = layout.trafficSample(sample.orgNumber, sample.rdnValue)
            if let entry = try await client.read(dn) {
                let stored = try TrafficSample(entry: entry)
                let merged = TrafficBucketer.merge(stored, sample)
                writes.append(.modify(dn, merged.attributes.filter { $0.0 != "cn" }.map { name, values in
                    values.isEmpty ? LDAPModification.delete(name) : LDAPModification.replace(name, values)
                }.filter { !($0.operation == .delete && entry[$0.attribute] == nil) }))
            } else {
                writes.append(.add(dn, sample.entryAttributes.map { ($0.0, $0.1.map { Data($0.utf8) }) }))
            }
        }
        writes.append(.modify(converter.dn, [.replace("tgTrafficCursor", [String(cursor)])]))
        return writes
    }
}
