import Directory
import Foundation
import LDAPClient
import Logging

/// Group commit of collected traffic pages: the pages of up to ``Settings/batchSize``
/// converters go into the directory in **one** LDAP transaction (RFC 5805).
///
/// slapd's back-mdb syncs to disk once per write transaction, and every transaction also
/// waits the client's `transactionSettleDelay`; one transaction per converter and page
/// therefore capped collection at roughly 100–150 converters per second. Here a caller
/// (one converter's collection) hands in its page and waits; the committer gathers pages
/// into a batch and commits it when the batch is full, or once its oldest page has
/// waited ``Settings/wait`` and fewer than ``Settings/maxInFlight`` batches are being
/// committed. Only then does ``commit(_:)`` return, so the converter's next request (the
/// `after=` that acknowledges the records to its agent) goes out only after the
/// transaction holding its writes committed: a crash before that commit re-reads the
/// records, one after it continues from the stored cursor.
///
/// Per batch: one search per tenant reads the stored samples the batch touches, then one
/// transaction writes every page's samples and cursor. A converter is in at most one
/// waiting page (its collection waits for the commit), and samples belong to one
/// converter, so no two pages of a batch touch the same entry; the committer checks this
/// anyway and puts a page that would into a later batch.
///
/// If a batch's transaction fails (nothing of it was written), each of its pages is
/// retried in a transaction of its own, after checking the converter's stored cursor (a
/// commit whose answer was lost may have applied it): one bad converter fails alone and
/// the others' records are committed once. The failure is logged.
public actor CollectionCommitter {
    /// Batch size and timing (`serve --collect-batch`, `--collect-batch-wait`).
    public struct Settings: Sendable, Equatable {
        /// Converters' pages per transaction at most.
        public var batchSize: Int
        /// How long a page may wait for others before its batch is committed anyway.
        public var wait: Duration
        /// Batches committed at the same time at most (each holds an LDAP connection).
        public var maxInFlight: Int

        public init(batchSize: Int = 64, wait: Duration = .milliseconds(50), maxInFlight: Int = 8) {
            self.batchSize = max(1, batchSize)
            self.wait = wait
            self.maxInFlight = max(1, maxInFlight)
        }
    }

    /// What the committer did since the last ``takeCounts()``.
    public struct Counts: Sendable, Equatable {
        /// Transactions committed (batches and single-page retries).
        public var transactions = 0
        /// Pages committed.
        public var pages = 0
        /// The largest batch committed.
        public var largestBatch = 0
        /// Batch transactions that failed (their pages were retried one by one).
        public var failedBatches = 0
        /// Pages that could not be committed (their records stay at the agent).
        public var failedPages = 0

        public init() {}
    }

    private struct Pending: Sendable {
        var page: CollectedPage
        var keys: [String]
        var arrived: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    public nonisolated let client: LDAPClient
    public nonisolated let layout: DirectoryLayout
    public nonisolated let settings: Settings
    nonisolated let metrics: MonitorMetrics
    nonisolated let logger: Logger

    private var waiting: [Pending] = []
    private var inFlight = 0
    private var timerArmed = false
    private var counts = Counts()

    public init(client: LDAPClient, layout: DirectoryLayout, settings: Settings = Settings(), metrics: MonitorMetrics = MonitorMetrics(),
                logger: Logger) {
        self.client = client
        self.layout = layout
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
    }

    /// Commits `page` (its samples and cursor), usually together with other converters'
    /// pages; returns once the transaction holding it committed. Throws when the page
    /// could not be committed (nothing of it was written; the records stay at the agent).
    public func commit(_ page: CollectedPage) async throws {
        let keys = [page.converter.dn.string.lowercased()] + page.sampleDNs(layout).map { $0.string.lowercased() }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            waiting.append(Pending(page: page, keys: keys, arrived: .now, continuation: continuation))
            dispatch()
        }
    }

    /// The counts since the previous call (for the cycle log), and resets them.
    public func takeCounts() -> Counts {
        defer { counts = Counts() }
        return counts
    }

    /// Starts every batch that is due and has a free slot; arms the timer for the rest.
    private func dispatch() {
        while inFlight < settings.maxInFlight, let oldest = waiting.first,
              waiting.count >= settings.batchSize || ContinuousClock.now - oldest.arrived >= settings.wait {
            let batch = takeBatch()
            inFlight += 1
            Task {
                let (done, outcomes) = await self.execute(batch)
                // Counts first, so that a caller that returns from commit sees them.
                self.finished(done)
                for (continuation, error) in outcomes {
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            }
        }
        if !waiting.isEmpty, !timerArmed, let oldest = waiting.first {
            timerArmed = true
            let due = max(oldest.arrived + settings.wait, ContinuousClock.now + .milliseconds(1))
            Task {
                try? await Task.sleep(until: due, clock: .continuous)
                self.timerFired()
            }
        }
    }

    private func timerFired() {
        timerArmed = false
        dispatch()
    }

    /// Up to `batchSize` waiting pages, oldest first, no two touching the same entry.
    private func takeBatch() -> [Pending] {
        var batch: [Pending] = []
        var touched = Set<String>()
        var rest: [Pending] = []
        for pending in waiting {
            if batch.count < settings.batchSize, touched.isDisjoint(with: pending.keys) {
                touched.formUnion(pending.keys)
                batch.append(pending)
            } else {
                rest.append(pending)
            }
        }
        waiting = rest
        return batch
    }

    private func finished(_ done: Counts) {
        inFlight -= 1
        counts.transactions += done.transactions
        counts.pages += done.pages
        counts.largestBatch = max(counts.largestBatch, done.largestBatch)
        counts.failedBatches += done.failedBatches
        counts.failedPages += done.failedPages
        dispatch()
    }

    /// Commits one batch (falling back to one transaction per page) and resumes its callers.
    private nonisolated func execute(_ batch: [Pending]) async -> (Counts, [(CheckedContinuation<Void, any Error>, (any Error)?)]) {
        var done = Counts()
        var outcomes: [(CheckedContinuation<Void, any Error>, (any Error)?)] = []
        var writes: [LDAPWrite] = []
        var included: [Pending] = []
        do {
            // Check every converter's entry and cursor first (one search per tenant), so a
            // deleted converter or another writer never makes the whole transaction fail:
            // slapd 2.5.13 may answer "other (80)" for a while after a failed commit.
            let cursors = try await storedCursors(batch.map(\.page))
            var checked: [Pending] = []
            for pending in batch {
                switch Self.cursorCheck(pending.page, stored: cursors[pending.page.converter.dn.description.lowercased()]) {
                case .write: checked.append(pending)
                case .alreadyCommitted:
                    done.pages += 1
                    outcomes.append((pending.continuation, nil))
                case .refused(let error):
                    done.failedPages += 1
                    outcomes.append((pending.continuation, error))
                }
            }
            if checked.isEmpty { return (done, outcomes) }
            let stored = try await storedSamples(checked.map(\.page))
            for pending in checked {
                do {
                    writes += try pending.page.writes(layout, stored: stored)
                    included.append(pending)
                } catch {
                    done.failedPages += 1
                    outcomes.append((pending.continuation, error))
                }
            }
            if included.isEmpty { return (done, outcomes) }
            try await client.transaction(writes)
            done.transactions += 1
            done.pages += included.count
            done.largestBatch = max(done.largestBatch, included.count)
            metrics.collectionTransactions.increment()
            for pending in included { outcomes.append((pending.continuation, nil)) }
            return (done, outcomes)
        } catch {
            let pages = included.isEmpty ? batch : included
            guard pages.count > 1 else {
                done.failedPages += pages.count
                for pending in pages { outcomes.append((pending.continuation, error)) }
                return (done, outcomes)
            }
            done.failedBatches += 1
            metrics.collectionBatchFailures.increment()
            logger.warning("monitor: a collection batch transaction failed; committing its converters one by one", metadata: [
                "converters": "\(pages.count)", "error": "\(error)"])
            for pending in pages {
                do {
                    // slapd 2.5.13 may answer the first operation after a failed commit
                    // with "other (80)"; commitAlone checks the cursor first, so a second
                    // try is safe.
                    let wrote: Bool
                    do {
                        wrote = try await commitAlone(pending.page)
                    } catch let first as LDAPError {
                        logger.notice("monitor: retrying a converter's commit once", metadata: ["error": "\(first)"])
                        try? await Task.sleep(for: .milliseconds(20))
                        wrote = try await commitAlone(pending.page)
                    }
                    if wrote {
                        done.transactions += 1
                        metrics.collectionTransactions.increment()
                    }
                    done.pages += 1
                    done.largestBatch = max(done.largestBatch, 1)
                    outcomes.append((pending.continuation, nil))
                } catch {
                    done.failedPages += 1
                    outcomes.append((pending.continuation, error))
                }
            }
            return (done, outcomes)
        }
    }

    /// One page in a transaction of its own. Returns false when the stored cursor shows
    /// that the failed batch did commit it after all (nothing written then).
    private nonisolated func commitAlone(_ page: CollectedPage) async throws -> Bool {
        let cursors = try await storedCursors([page])
        switch Self.cursorCheck(page, stored: cursors[page.converter.dn.description.lowercased()]) {
        case .alreadyCommitted: return false
        case .refused(let error): throw error
        case .write: break
        }
        try await client.transaction(try page.writes(layout, stored: try await storedSamples([page])))
        return true
    }

    enum CursorCheck {
        case write
        /// The stored cursor is already the page's `last`: a commit whose answer was lost.
        case alreadyCommitted
        case refused(MonitorError)
    }

    /// What to do with `page` given its converter's stored cursor (`.some(nil)`: entry
    /// without a cursor, i.e. 0; `nil`: no entry).
    static func cursorCheck(_ page: CollectedPage, stored: Int64??) -> CursorCheck {
        guard let stored else {
            return .refused(.protocolViolation("converter entry \(page.converter.dn) no longer exists; its records are not collected"))
        }
        let cursor = stored ?? 0
        if cursor == page.last { return .alreadyCommitted }
        guard cursor == page.after else {
            return .refused(.protocolViolation(
                "tgTrafficCursor of \(page.converter.dn) is \(cursor), expected \(page.after): another writer collects this converter"))
        }
        return .write
    }

    /// The stored `tgTrafficCursor` of the pages' converters by lowercased DN (`.some(nil)`
    /// for an entry without one; absent: no entry), one search per tenant.
    nonisolated func storedCursors(_ pages: [CollectedPage]) async throws -> [String: Int64?] {
        var byOrg: [String: [String]] = [:]
        for page in pages { byOrg[page.converter.orgNumber, default: []].append(page.converter.name) }
        var result: [String: Int64?] = [:]
        for (org, names) in byOrg.sorted(by: { $0.key < $1.key }) {
            for entry in try await entries(under: layout.converters(org), named: names, attributes: ["cn", "tgTrafficCursor"]) {
                guard let name = entry["cn"] else { continue }
                result[layout.converter(org, name).description.lowercased()] = .some(entry["tgTrafficCursor"].flatMap { Int64($0) })
            }
        }
        return result
    }

    /// The stored samples the pages touch, by lowercased RDN value: one search per tenant
    /// (`cn` is indexed), in chunks so that a filter stays small.
    nonisolated func storedSamples(_ pages: [CollectedPage]) async throws -> [String: LDAPEntry] {
        var byOrg: [String: [String]] = [:]
        for page in pages {
            for sample in page.bucketer.samples.values { byOrg[sample.orgNumber, default: []].append(sample.rdnValue) }
        }
        var stored: [String: LDAPEntry] = [:]
        for (org, names) in byOrg.sorted(by: { $0.key < $1.key }) {
            let wanted = Set(names.map { $0.lowercased() })
            for entry in try await entries(under: layout.traffic(org), named: names, objectClass: "tgTrafficSample") {
                for name in entry.strings("cn") where wanted.contains(name.lowercased()) { stored[name.lowercased()] = entry }
            }
        }
        return stored
    }

    /// The entries one level under `base` whose `cn` is one of `names` (searched in chunks
    /// of 256 so a filter stays small; `cn` is indexed); none when `base` does not exist.
    private nonisolated func entries(under base: DistinguishedName, named names: [String], objectClass: String? = nil,
                                     attributes: [String]? = nil) async throws -> [LDAPEntry] {
        var found: [LDAPEntry] = []
        var start = 0
        while start < names.count {
            let chunk = names[start..<min(names.count, start + 256)]
            start += chunk.count
            let byName = LDAPFilter.or(chunk.map { .equal("cn", $0) })
            do {
                found += try await client.search(base: base, scope: .oneLevel,
                                                 filter: objectClass.map { .and([.equal("objectClass", $0), byName]) } ?? byName,
                                                 attributes: attributes)
            } catch let error as LDAPError where error.code == .noSuchObject {
                continue
            }
        }
        return found
    }
}
