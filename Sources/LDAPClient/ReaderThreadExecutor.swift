import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A task executor that runs jobs on an ``LDAPSession``'s reader thread.
///
/// A task that prefers this executor (see ``LDAPClient/withPinnedConnection(_:)``) runs
/// its code between two LDAP requests on the thread that also receives the answers: the
/// reader takes a response, resumes the task's continuation, which enqueues the task
/// here, and runs it before going back to `poll(2)`. The task sends its next request and
/// suspends. One thread wakes per operation, as in a synchronous C client, instead of the
/// reader thread plus a thread of the cooperative pool.
///
/// Jobs enqueued while no reader runs (before the first request, after the connection
/// was lost) go to the global concurrent executor: the task keeps running, only without
/// the affinity.
final class ReaderThreadExecutor: TaskExecutor, @unchecked Sendable {
    private struct State {
        var jobs: [UnownedJob] = []
        /// A reader is attached and will run queued jobs.
        var attached = false
        /// The reader sleeps in `poll(2)`; an enqueue must wake it.
        var sleeping = false
        /// The write end of the reader's wake-up pipe.
        var wakeFD: Int32 = -1
    }

    private let state = Mutex(State())
    /// Tasks pinned to this executor (``LDAPClient/withPinnedConnection(_:)``).
    private let pins = Atomic<Int>(0)

    /// While a task is pinned, only it sends on the session: the reader may then wait
    /// for an answer inside libldap (see `LDAPSession.readLoop`).
    var isPinned: Bool { pins.load(ordering: .relaxed) > 0 }

    func pin() { pins.add(1, ordering: .relaxed) }
    func unpin() { pins.subtract(1, ordering: .relaxed) }

    /// Whether jobs are waiting to run.
    var hasJobs: Bool { state.withLock { !$0.jobs.isEmpty } }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let queued = state.withLock { state -> Bool in
            guard state.attached else { return false }
            state.jobs.append(job)
            if state.sleeping {
                // Written with the lock held: `detach()` (which precedes closing the pipe)
                // cannot run meanwhile.
                state.sleeping = false
                var byte: UInt8 = 1
                _ = write(state.wakeFD, &byte, 1)
            }
            return true
        }
        if !queued { globalConcurrentExecutor.enqueue(job) }
    }

    // MARK: - Reader side

    /// The reader thread starts accepting jobs; `wakeFD` wakes it from `poll(2)`.
    func attach(wakeFD: Int32) {
        state.withLock { state in
            state.attached = true
            state.wakeFD = wakeFD
        }
    }

    /// The reader is about to sleep. Returns false (do not sleep) when jobs are waiting.
    func prepareToSleep() -> Bool {
        state.withLock { state in
            guard state.jobs.isEmpty else { return false }
            state.sleeping = true
            return true
        }
    }

    /// The reader woke up.
    func awake() {
        state.withLock { $0.sleeping = false }
    }

    /// Runs the queued jobs, including those they enqueue, up to `limit` jobs.
    /// Returns true when jobs are still waiting.
    @discardableResult
    func runJobs(limit: Int = 256) -> Bool {
        var ran = 0
        while ran < limit {
            let batch = state.withLock { state -> [UnownedJob] in
                let batch = state.jobs
                state.jobs.removeAll(keepingCapacity: true)
                return batch
            }
            guard !batch.isEmpty else { return false }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            ran += batch.count
        }
        return state.withLock { !$0.jobs.isEmpty }
    }

    /// The reader is exiting: later jobs go to the global executor; the queued ones are
    /// run here for the last time.
    func detach() {
        let leftovers = state.withLock { state -> [UnownedJob] in
            state.attached = false
            state.sleeping = false
            state.wakeFD = -1
            let jobs = state.jobs
            state.jobs = []
            return jobs
        }
        for job in leftovers { job.runSynchronously(on: asUnownedTaskExecutor()) }
    }
}
