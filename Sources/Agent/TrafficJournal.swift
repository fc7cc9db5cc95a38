import Foundation
import Synchronization

/// The agent's on-disk, bounded journal of traffic, access and dropped records
/// (`DIR/journal/`), read by the monitor through `GET /v1/traffic`.
///
/// Files:
/// - `journal.jsonl`: one JSON object per line, appended with `write` + `fsync`. A line holds
///   new or updated records (same `seq` = the later version wins), the sampler's last counter
///   readings (in the same line as the traffic records they produced, so a crash never
///   separates the two), an acknowledgement (`acked`, `served`) or the name of an ingested
///   access spool. A torn last line (crash during a write) is ignored; on open the file is
///   rewritten (compacted) from what was read, and again whenever enough acknowledged or
///   superseded records have piled up.
/// - `access.spool`: lines appended by `tollgate-agent check` (O_APPEND under `flock`);
///   `run` renames it to `access.spool.<unique>`, appends its records to the journal together
///   with that name and deletes it (a crash in between does not ingest it twice).
///
/// `seq` starts at 1 and only grows, also across restarts and compactions. Records are kept
/// until a read with `after ≥ seq` acknowledges them.
///
/// The bound (`maxRecords`, `--journal-max-records`): when that many records are kept, a new
/// traffic record is added into the newest kept traffic record of the same child and
/// destination that has not been handed out yet (bytes and packets add up, the interval
/// widens: only resolution is lost); if there is none it is appended anyway, so the journal
/// exceeds the bound by at most one record per child and destination. Access records that
/// do not fit are counted in a `dropped` record (one per read cycle; it is updated in place
/// until it is handed out).
public final class TrafficJournal: Sendable {
    /// What one line of `journal.jsonl` holds.
    struct Line: Codable {
        var records: [JournalRecord]?
        var readings: [String: CounterReading]?
        var acked: UInt64?
        var served: UInt64?
        var lastSeq: UInt64?
        var ingested: String?
    }

    struct State {
        /// Kept records, ascending by seq.
        var records: [JournalRecord] = []
        var lastSeq: UInt64 = 0
        var acked: UInt64 = 0
        /// The highest seq handed out by a read (records up to it are never changed again).
        var served: UInt64 = 0
        var readings: [String: CounterReading] = [:]
        var ingested: Set<String> = []
        /// Record versions in the file that are no longer live (acknowledged or superseded).
        var garbage = 0

        func index(of seq: UInt64) -> Int? {
            var low = 0, high = records.count - 1
            while low <= high {
                let middle = (low + high) / 2
                if records[middle].seq == seq { return middle }
                if records[middle].seq < seq { low = middle + 1 } else { high = middle - 1 }
            }
            return nil
        }

        mutating func assign(_ record: JournalRecord) -> JournalRecord {
            var record = record
            lastSeq += 1
            record.seq = lastSeq
            records.append(record)
            return record
        }

        /// The newest record matching `predicate` that has not been handed out.
        func newestUnserved(where predicate: (JournalRecord) -> Bool) -> Int? {
            var position = records.count - 1
            while position >= 0, records[position].seq > served {
                if predicate(records[position]) { return position }
                position -= 1
            }
            return nil
        }
    }

    /// One page of `GET /v1/traffic`.
    public struct Page: Sendable, Equatable {
        public var records: [JournalRecord]
        public var last: UInt64
        public var more: Bool
    }

    public let directory: String
    public let maxRecords: Int
    private let state: Mutex<State>
    private let descriptor: Mutex<Int32>

    public var file: String { directory + "/journal.jsonl" }
    public var spoolFile: String { Self.spoolFile(in: directory) }
    static func spoolFile(in directory: String) -> String { directory + "/access.spool" }

    /// `DIR/journal` of an agent directory.
    public static func directory(of agent: AgentDirectory) -> String { agent.path + "/journal" }

    /// Opens (creating) the journal in `directory`, reading what a previous run left.
    public init(directory: String, maxRecords: Int = 100_000) throws(AgentError) {
        guard maxRecords >= 1 else { throw .usage("--journal-max-records must be at least 1") }
        self.directory = directory
        self.maxRecords = maxRecords
        try AgentDirectory.makeDirectory(directory, mode: 0o700)
        let loaded = try Self.load(directory + "/journal.jsonl")
        var initial = loaded
        state = Mutex(State())
        descriptor = Mutex(-1)
        try compact(&initial)
        let ready = initial
        state.withLock { $0 = ready }
        try removeIngestedSpools()
    }

    deinit {
        let fd = descriptor.withLock { $0 }
        if fd >= 0 { close(fd) }
    }

    // MARK: - Reading the file

    static func load(_ file: String) throws(AgentError) -> State {
        var state = State()
        guard let data = FileManager.default.contents(atPath: file) else {
            if FileManager.default.fileExists(atPath: file) { throw .localFiles("cannot read \(file)") }
            return state
        }
        let decoder = JSONDecoder()
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // The part after the last newline is a torn write (or empty): ignored.
        lines.removeLast()
        var byseq: [UInt64: JournalRecord] = [:]
        var versions = 0
        for line in lines where !line.isEmpty {
            guard let decoded = try? decoder.decode(Line.self, from: Data(line)) else { continue }
            for record in decoded.records ?? [] {
                byseq[record.seq] = record
                versions += 1
                state.lastSeq = max(state.lastSeq, record.seq)
            }
            if let readings = decoded.readings { state.readings = readings }
            if let acked = decoded.acked { state.acked = max(state.acked, acked) }
            if let served = decoded.served { state.served = max(state.served, served) }
            if let last = decoded.lastSeq { state.lastSeq = max(state.lastSeq, last) }
            if let name = decoded.ingested { state.ingested.insert(name) }
        }
        state.lastSeq = max(state.lastSeq, state.acked)
        state.records = byseq.values.filter { $0.seq > state.acked }.sorted { $0.seq < $1.seq }
        state.garbage = versions - state.records.count
        return state
    }

    // MARK: - Writing

    private static func encode(_ line: Line) throws(AgentError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(line) + Data("\n".utf8)
        } catch {
            throw .localFiles("cannot encode a journal line: \(error)")
        }
    }

    /// Appends `line` and syncs it to disk.
    private func append(_ line: Line) throws(AgentError) {
        let data = try Self.encode(line)
        try descriptor.withLock { fd throws(AgentError) in
            if fd < 0 {
                fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw .localFiles("cannot open \(file): \(String(cString: strerror(errno)))") }
            }
            try Self.writeAll(fd, data, file: file)
            guard fsync(fd) == 0 else { throw .localFiles("cannot sync \(file): \(String(cString: strerror(errno)))") }
        }
    }

    static func writeAll(_ fd: Int32, _ data: Data, file: String) throws(AgentError) {
        var failure: String?
        data.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, base + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write \(file): \(String(cString: strerror(errno)))"
                    return
                }
                offset += written
            }
        }
        if let failure { throw .localFiles(failure) }
    }

    /// Rewrites the file from the live state (atomic rename), dropping acknowledged and
    /// superseded versions and any torn line. Called with the state locked.
    private func compact(_ snapshot: inout State) throws(AgentError) {
        var data = try Self.encode(Line(readings: snapshot.readings, acked: snapshot.acked, served: snapshot.served,
                                        lastSeq: snapshot.lastSeq))
        var start = 0
        while start < snapshot.records.count {
            let end = min(start + 1000, snapshot.records.count)
            data += try Self.encode(Line(records: Array(snapshot.records[start..<end])))
            start = end
        }
        let directory = directory
        let pending = snapshot.ingested.filter { FileManager.default.fileExists(atPath: directory + "/" + $0) }
        for name in pending.sorted() { data += try Self.encode(Line(ingested: name)) }
        let file = file
        try descriptor.withLock { fd throws(AgentError) in
            if fd >= 0 {
                close(fd)
                fd = -1
            }
            try AgentDirectory.writeAtomically(data, to: file, mode: 0o600)
        }
        snapshot.garbage = 0
        snapshot.ingested = pending
    }

    private func compactIfWorthwhile() {
        state.withLock { current in
            if current.garbage > max(1000, current.records.count) { try? compact(&current) }
        }
    }

    // MARK: - Public operations

    /// The sampler's counter readings of the last round (empty before the first).
    public var readings: [String: CounterReading] { state.withLock { $0.readings } }
    /// Records kept (not yet acknowledged).
    public var bufferedRecords: Int { state.withLock { $0.records.count } }
    /// The highest seq assigned so far.
    public var lastSeq: UInt64 { state.withLock { $0.lastSeq } }

    /// Appends one sampler round: its traffic records and the counter readings they were
    /// computed from, in one line (both or neither survive a crash).
    public func appendTraffic(_ records: [JournalRecord], readings: [String: CounterReading]) throws(AgentError) {
        try state.withLock { current throws(AgentError) in
            var next = current
            var written: [JournalRecord] = []
            for record in records {
                if next.records.count >= maxRecords,
                   let position = next.newestUnserved(where: { $0.kind == .traffic && $0.child == record.child && $0.destination == record.destination }) {
                    next.records[position].absorb(record)
                    next.garbage += 1
                    written.append(next.records[position])
                } else {
                    written.append(next.assign(record))
                }
            }
            next.readings = readings
            try append(Line(records: written, readings: readings))
            current = next
        }
        compactIfWorthwhile()
    }

    /// Appends access records (from the spool named `ingested`, if any); those that do not
    /// fit are counted in a `dropped` record.
    public func appendAccess(_ records: [JournalRecord], ingested: String? = nil) throws(AgentError) {
        try state.withLock { current throws(AgentError) in
            var next = current
            var written: [JournalRecord] = []
            var dropped: UInt64 = 0
            for record in records {
                if next.records.count >= maxRecords { dropped += 1 } else { written.append(next.assign(record)) }
            }
            if dropped > 0 {
                if let position = next.newestUnserved(where: { $0.kind == .dropped }) {
                    next.records[position].count = (next.records[position].count ?? 0) + dropped
                    next.garbage += 1
                    written.append(next.records[position])
                } else {
                    written.append(next.assign(.dropped(dropped)))
                }
            }
            if let ingested { next.ingested.insert(ingested) }
            try append(Line(records: written, ingested: ingested))
            current = next
        }
        compactIfWorthwhile()
    }

    /// Up to `limit` records with seq > `after`, in seq order. Acknowledges every record
    /// ≤ `after` (they are deleted). A cursor beyond the last seq (journal lost) moves the
    /// journal's seq up to it, so new records stay above the reader's cursor.
    public func read(after: UInt64, limit: Int) throws(AgentError) -> Page {
        let page = try state.withLock { current throws(AgentError) -> Page in
            var next = current
            if after > next.acked {
                next.lastSeq = max(next.lastSeq, after)
                next.acked = after
                let removed = next.records.prefix { $0.seq <= after }.count
                next.records.removeFirst(removed)
                next.garbage += removed
            }
            let page = Array(next.records.lazy.filter { $0.seq > after }.prefix(limit))
            let available = next.records.count - (next.records.firstIndex { $0.seq > after } ?? next.records.count)
            let last = page.last?.seq ?? after
            next.served = max(next.served, last)
            if next.acked != current.acked || next.served != current.served {
                try append(Line(acked: next.acked, served: next.served, lastSeq: next.lastSeq))
            }
            current = next
            return Page(records: page, last: last, more: available > page.count)
        }
        compactIfWorthwhile()
        return page
    }

    // MARK: - Access spool

    /// Appends `record` to `DIR/journal/access.spool` for `run` to ingest (used by `check`,
    /// a separate process): O_APPEND under an exclusive `flock`, retrying when `run` renamed
    /// the file between open and lock. Refuses when the spool exceeds 16 MiB (`run` is not
    /// ingesting it).
    public static func spoolAccess(_ record: JournalRecord, journalDirectory: String) throws(AgentError) {
        try AgentDirectory.makeDirectory(journalDirectory, mode: 0o700)
        let path = spoolFile(in: journalDirectory)
        // The spool holds bare records, one per line.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(record) + Data("\n".utf8) } catch { throw .localFiles("cannot encode an access record: \(error)") }
        for _ in 0..<10 {
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw .localFiles("cannot open \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            guard flock(fd, LOCK_EX) == 0 else { throw .localFiles("cannot lock \(path): \(String(cString: strerror(errno)))") }
            var opened = stat(), named = stat()
            guard fstat(fd, &opened) == 0, stat(path, &named) == 0, opened.st_ino == named.st_ino, opened.st_dev == named.st_dev else {
                continue  // renamed away by `run` meanwhile: open the new one
            }
            guard opened.st_size < 16 * 1024 * 1024 else {
                throw .localFiles("\(path) exceeds 16 MiB: is `tollgate-agent run` ingesting it?")
            }
            try writeAll(fd, data, file: path)
            guard fsync(fd) == 0 else { throw .localFiles("cannot sync \(path): \(String(cString: strerror(errno)))") }
            return
        }
        throw .localFiles("\(path) keeps being replaced; access record not logged")
    }

    /// Moves `access.spool` aside and appends its records (and those of any spool left by a
    /// crash) to the journal. Returns how many records were read.
    @discardableResult
    public func ingestSpool() throws(AgentError) -> Int {
        let live = spoolFile
        if FileManager.default.fileExists(atPath: live) {
            let target = "\(live).\(UInt64(Date().timeIntervalSince1970 * 1000))-\(UInt32.random(in: 0...UInt32.max))"
            guard rename(live, target) == 0 else {
                throw .localFiles("cannot rename \(live): \(String(cString: strerror(errno)))")
            }
            AgentDirectory.syncDirectory(directory)
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("access.spool.") }.sorted()
        var total = 0
        for name in names {
            let path = directory + "/" + name
            if state.withLock({ $0.ingested.contains(name) }) {
                unlink(path)
                continue
            }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            // Waits for a `check` that opened the file before the rename to finish its line.
            _ = flock(fd, LOCK_EX)
            close(fd)
            let data = FileManager.default.contents(atPath: path) ?? Data()
            var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            lines.removeLast()
            let decoder = JSONDecoder()
            let records = lines.compactMap { line -> JournalRecord? in
                guard var record = try? decoder.decode(JournalRecord.self, from: Data(line)), record.kind == .access else { return nil }
                record.seq = 0
                return record
            }
            try appendAccess(records, ingested: name)
            unlink(path)
            total += records.count
        }
        return total
    }

    private func removeIngestedSpools() throws(AgentError) {
        for name in state.withLock({ $0.ingested }) { unlink(directory + "/" + name) }
    }
}
