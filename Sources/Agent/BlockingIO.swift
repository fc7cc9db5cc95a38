import Dispatch

/// Runs blocking file work (fsync, rename) on a dispatch thread, so the cooperative pool
/// never waits for the disk.
enum BlockingIO {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(AgentError) -> T) async throws(AgentError) -> T {
        let result: Result<T, AgentError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(AgentError) -> T in try body() })
            }
        }
        return try result.get()
    }
}
