import Dispatch
import Foundation

/// Runs short-lived tools (swanctl) with `posix_spawn` on a dispatch thread, so the
/// cooperative pool never blocks; stdout and stderr are captured through a temporary file.
public enum ProcessRunner {
    public struct Output: Sendable {
        public var status: Int32
        public var output: String
    }

    /// Runs `executable` with `arguments` and extra environment variables; returns its exit
    /// status (128+signal when killed) and combined output.
    public static func run(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) async throws(AgentError) -> Output {
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("tollgate-agent-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out").path
        defer { unlink(file) }
        let result: Result<Int32, AgentError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(AgentError) -> Int32 in
                    try spawnAndWait(executable, arguments, environment: extra, outputPath: file)
                })
            }
        }
        let status = try result.get()
        let output = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return Output(status: status, output: output)
    }

    private static func spawnAndWait(_ executable: String, _ arguments: [String], environment extra: [String: String],
                                     outputPath: String) throws(AgentError) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptySet = sigset_t()
        sigemptyset(&emptySet)
        posix_spawnattr_setsigmask(&attributes, &emptySet)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw .strongSwan("cannot run \(executable): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { throw .strongSwan("waitpid for \(executable): \(String(cString: strerror(errno)))") }
        }
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}
