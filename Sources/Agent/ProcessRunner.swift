import ProcessSpawning

/// Runs short-lived tools (swanctl) through ``Subprocess`` (posix_spawn on a dispatch
/// thread, output through a private temporary file), with errors as ``AgentError``.
public enum ProcessRunner {
    public typealias Output = ProcessOutput

    /// Runs `executable` with `arguments` and extra environment variables; returns its exit
    /// status (128+signal when killed) and combined output.
    public static func run(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) async throws(AgentError) -> Output {
        do throws(SubprocessError) {
            return try await Subprocess.run(executable, arguments, environment: extra)
        } catch {
            throw .strongSwan(error.description)
        }
    }
}
