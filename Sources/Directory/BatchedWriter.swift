import Foundation
import LDAPClient
import Synchronization

/// Group commit for directory writes.
///
/// slapd's back-mdb has one writer at a time and syncs every write transaction to disk,
/// so one write per LDAP operation caps a server at a few hundred writes per second no
/// matter how many connections send them. A `BatchedWriter` queues writes and applies
/// everything queued so far as **one** RFC 5805 LDAP transaction (one sync) on its own
/// client, then the next group, and so on: no timer, so an idle server writes at once and
/// a busy one in groups of up to ``maximumBatch``.
///
/// - ``submit(_:)`` waits until the write is committed (e.g. a certificate that must be
///   on the converter entry before the EST answer goes out).
/// - ``enqueue(_:)`` returns at once (history events). Such a write is retried with
///   back-off while the directory is unreachable or busy and is only dropped for a
///   permanent error (e.g. its parent entry was removed), which `onError` reports;
///   an add that finds its entry already there counts as done (a retried commit whose
///   answer was lost).
/// - ``drain(timeout:)`` waits until everything queued is written (shutdown).
///
/// If a group's transaction fails for a reason other than the connection, nothing of it
/// was written and its writes are applied one by one, so one bad write fails alone.
public final class BatchedWriter: Sendable {
    public let client: LDAPClient
    /// The largest number of writes in one transaction.
    public let maximumBatch: Int
    /// Called for background writes that were dropped or are being retried.
    let onError: @Sendable (String) -> Void

    private struct Pending: Sendable {
        var write: LDAPWrite
        /// nil for background writes.
        var waiter: CheckedContinuation<Void, any Error>?
        var attempts = 0
    }

    private struct State {
        var queue: [Pending] = []
        var flushing = false
        /// Groups committed and writes in them (for tests and benchmarks).
        var batches = 0
        var writes = 0
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - client: A client of its own (an open transaction holds its connection);
    ///     one connection is enough, the writer runs one transaction at a time.
    ///   - onError: Receives a one-line description of background write failures.
    public init(client: LDAPClient, maximumBatch: Int = 256, onError: @escaping @Sendable (String) -> Void = { _ in }) {
        self.client = client
        self.maximumBatch = max(1, maximumBatch)
        self.onError = onError
    }

    /// Applies `write` in the next group and returns when it is committed.
    public func submit(_ write: LDAPWrite) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            push(Pending(write: write, waiter: continuation))
        }
    }

    /// Queues `write` and returns at once; it is written with the next group.
    public func enqueue(_ write: LDAPWrite) {
        push(Pending(write: write, waiter: nil))
    }

    /// Waits until every queued write is committed (or dropped), at most `timeout`
    /// seconds; returns the number of writes still queued (0 when all are done).
    @discardableResult
    public func drain(timeout: TimeInterval = 30) async -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let (busy, left) = state.withLock { ($0.flushing || !$0.queue.isEmpty, $0.queue.count) }
            if !busy || Date() >= deadline { return left }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Groups committed and writes applied so far.
    public var statistics: (batches: Int, writes: Int) {
        state.withLock { ($0.batches, $0.writes) }
    }

    // MARK: -

    private func push(_ pending: Pending) {
        let start = state.withLock { state -> Bool in
            state.queue.append(pending)
            if state.flushing { return false }
            state.flushing = true
            return true
        }
        if start { Task { await self.flushLoop() } }
    }

    private func take() -> [Pending]? {
        state.withLock { state -> [Pending]? in
            if state.queue.isEmpty {
                state.flushing = false
                return nil
            }
            let count = min(maximumBatch, state.queue.count)
            let batch = Array(state.queue.prefix(count))
            state.queue.removeFirst(count)
            return batch
        }
    }

    private func flushLoop() async {
        var failures = 0
        while let batch = take() {
            let retry = await commit(batch)
            if retry.isEmpty {
                failures = 0
                continue
            }
            failures += 1
            state.withLock { $0.queue.insert(contentsOf: retry, at: 0) }
            try? await Task.sleep(for: .milliseconds(min(5000, 50 << min(failures, 7))))
        }
    }

    /// Commits one group; returns the background writes to retry later.
    private func commit(_ batch: [Pending]) async -> [Pending] {
        do {
            if batch.count == 1 {
                try await client.apply(batch[0].write)
            } else {
                try await client.transaction(batch.map(\.write))
            }
            state.withLock { $0.batches += 1; $0.writes += batch.count }
            for pending in batch { pending.waiter?.resume() }
            return []
        } catch {
            if Self.isTransient(error) {
                return fail(batch, error)
            }
            if batch.count == 1 { return settle(batch[0], error: error) }
            onError("a group of \(batch.count) writes failed, applying them one by one: \(error)")
        }
        // The group failed as a whole for a reason tied to its content: one by one.
        var retry: [Pending] = []
        for pending in batch {
            do {
                try await client.apply(pending.write)
                state.withLock { $0.batches += 1; $0.writes += 1 }
                pending.waiter?.resume()
            } catch {
                retry += Self.isTransient(error) ? fail([pending], error) : settle(pending, error: error)
            }
        }
        return retry
    }

    /// A transient failure: waiting callers get the error, background writes are retried.
    private func fail(_ batch: [Pending], _ error: any Error) -> [Pending] {
        var retry: [Pending] = []
        for var pending in batch {
            if let waiter = pending.waiter {
                waiter.resume(throwing: error)
            } else {
                pending.attempts += 1
                if pending.attempts == 1 || pending.attempts % 20 == 0 {
                    onError("\(pending.write.operationName) failed (attempt \(pending.attempts)); retrying: \(error)")
                }
                retry.append(pending)
            }
        }
        return retry
    }

    /// A permanent failure of one write.
    private func settle(_ pending: Pending, error: any Error) -> [Pending] {
        if let waiter = pending.waiter {
            waiter.resume(throwing: error)
        } else if case .add = pending.write, let ldap = error as? LDAPError, ldap.code == .entryAlreadyExists {
            // Written by an earlier attempt whose answer was lost.
        } else {
            onError("\(pending.write.operationName) dropped: \(error)")
        }
        return []
    }

    static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? LDAPError else { return false }
        switch error.code {
        case .serverDown, .connectError, .timeout, .busy, .unavailable, .localError, .other: return true
        default: return false
        }
    }
}
