import Directory
import Foundation
import LDAPClient
import Logging

/// Collects an agent's traffic and access records into 5-minute samples.
///
/// Per page (`GET /v1/traffic?after=<cursor>&limit=N`): the records are bucketed and the
/// page is handed to the ``CollectionCommitter``, which writes the merged samples plus
/// the new `tgTrafficCursor` in one LDAP transaction, together with other converters'
/// pages (group commit). Only after that commit is the next request sent with `after` =
/// the new cursor, which acknowledges the records to the agent. So a crash before the
/// commit re-reads the same records (nothing was written), and a crash after it
/// continues from the stored cursor (nothing is counted twice). The collector is the only
/// writer of a converter's samples and cursor.
public struct TrafficCollector: Sendable {
    public let committer: CollectionCommitter
    public let pageSize: Int
    public let pagesPerCycle: Int
    let metrics: MonitorMetrics
    let logger: Logger

    public init(committer: CollectionCommitter, pageSize: Int, pagesPerCycle: Int, metrics: MonitorMetrics = MonitorMetrics(),
                logger: Logger) {
        self.committer = committer
        self.pageSize = pageSize
        self.pagesPerCycle = max(1, pagesPerCycle)
        self.metrics = metrics
        self.logger = logger
    }

    /// The result of one collection.
    public struct Result: Sendable {
        public var cursor: Int64
        public var records: Int
        /// Pages committed (each in some transaction, usually shared with other converters).
        public var pages: Int
    }

    /// Collects from `converter` (starting at its stored cursor) over `connection`.
    public func collect(_ converter: MonitoredConverter, over connection: AgentConnection) async throws -> Result {
        var cursor = converter.cursor
        var result = Result(cursor: cursor, records: 0, pages: 0)
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
            try await committer.commit(CollectedPage(converter: converter, after: cursor, last: page.last, bucketer: bucketer))
            cursor = page.last
            result.cursor = cursor
            result.records += bucketer.counted
            result.pages += 1
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
}
