import Foundation

/// `policy.json`: the last policy, its ETag, and when the server last confirmed it (a 200
/// or a 304 for that ETag). `run` keeps using it while `confirmedAt` is younger than
/// `--stale-seconds` (fail-static), then drops every tunnel (fail closed).
public struct PolicyCache: Codable, Sendable, Equatable {
    public var etag: String
    public var confirmedAt: Date
    public var policy: AccessPolicy

    public init(etag: String, confirmedAt: Date, policy: AccessPolicy) {
        self.etag = etag
        self.confirmedAt = confirmedAt
        self.policy = policy
    }

    /// The cache in `directory`, nil if there is none or it cannot be read (then the agent
    /// starts closed and asks the server).
    public static func load(from directory: AgentDirectory) -> PolicyCache? {
        guard let data = FileManager.default.contents(atPath: directory.policyFile) else { return nil }
        return try? JSONCoding.decoder.decode(PolicyCache.self, from: data)
    }

    public func save(to directory: AgentDirectory) throws(AgentError) {
        let data: Data
        do { data = try JSONCoding.encoder.encode(self) } catch { throw .localFiles("cannot encode the policy cache: \(error)") }
        try AgentDirectory.writeAtomically(data, to: directory.policyFile, mode: 0o600)
    }

    /// Whether the cached policy may still be used at `now`.
    public func isFresh(at now: Date, staleSeconds: Int) -> Bool {
        now.timeIntervalSince(confirmedAt) <= Double(staleSeconds)
    }
}

/// A wake-up flag one task sets and another waits on, with a timeout.
actor WakeSignal {
    private var pending = false
    private var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
    private var nextID: UInt64 = 0

    func signal() {
        if let waiter {
            self.waiter = nil
            waiter.continuation.resume()
        } else {
            pending = true
        }
    }

    /// Returns when signalled (also if signalled before the call) or after `timeout`.
    func wait(upTo timeout: Duration) async {
        if pending {
            pending = false
            return
        }
        nextID += 1
        let id = nextID
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.timeOut(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiter = (id, continuation)
            }
        } onCancel: {
            Task { await self.timeOut(id) }
        }
        timer.cancel()
    }

    private func timeOut(_ id: UInt64) {
        guard let waiter, waiter.id == id else { return }
        self.waiter = nil
        waiter.continuation.resume()
    }
}
