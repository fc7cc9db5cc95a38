import Dispatch
import Foundation

/// The outcome of a finished child process.
public struct ProcessOutput: Sendable {
    /// Exit status, or 128 + the signal number when a signal ended it.
    public var status: Int32
    /// stdout and stderr, interleaved as written.
    public var output: String

    public init(status: Int32, output: String) {
        self.status = status
        self.output = output
    }
}

/// A program could not be started or waited for.
public struct SubprocessError: Error, Sendable, CustomStringConvertible {
    public var executable: String
    public var reason: String

    public var description: String { "cannot run \(executable): \(reason)" }
}

/// Runs external programs (slapadd, slapd, swanctl, charon) with `posix_spawn` and
/// `waitpid` on a dispatch thread, so that Swift's cooperative pool never blocks on them.
/// Used by the managed slapd, the agent's strongSwan driver and the test harnesses.
///
/// Output goes to a file, not a pipe: slapd detaches into a daemon that would keep a
/// pipe open forever.
public enum Subprocess {
    /// Runs `executable` to completion; its stdout and stderr are written to `outputFile`
    /// (a private temporary file when `nil`) and returned. `environment` adds to (or
    /// overrides) the caller's environment.
    public static func run(_ executable: String, _ arguments: [String], outputFile: URL? = nil,
                           environment: [String: String] = [:]) async throws(SubprocessError) -> ProcessOutput {
        let file = outputFile ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("tollgate-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out")
        defer { if outputFile == nil { try? FileManager.default.removeItem(at: file) } }
        let result: Result<Int32, SubprocessError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(SubprocessError) -> Int32 in
                    let pid = try spawn(executable, arguments, outputPath: file.path, fileMode: 0o600, environment: environment)
                    return try waitForExit(pid, executable: executable)
                })
            }
        }
        let status = try result.get()
        let output = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return ProcessOutput(status: status, output: output)
    }

    /// Starts `executable` without waiting: stdin from /dev/null, stdout and stderr into
    /// `outputPath` (truncated, or appended with `append`; created with `fileMode`), a clean
    /// signal mask and default dispositions (dispatch worker threads block most signals and
    /// a child inherits that mask: slapd or charon would never see the signal that stops
    /// them). With `ownProcessGroup` the child does not receive a Ctrl-C aimed at the
    /// caller. The caller reaps the returned pid (``waitForExit(_:executable:)``).
    public static func spawn(_ executable: String, _ arguments: [String], outputPath: String,
                             append: Bool = false, ownProcessGroup: Bool = false, fileMode: mode_t = 0o640,
                             environment extra: [String: String] = [:]) throws(SubprocessError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), fileMode)
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
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = []
        if !extra.isEmpty {
            var environment = ProcessInfo.processInfo.environment
            for (key, value) in extra { environment[key] = value }
            envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = envp.isEmpty ? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
                              : posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw SubprocessError(executable: executable, reason: String(cString: strerror(rc))) }
        return pid
    }

    /// Waits for `pid` (blocking the calling thread) and returns its exit status, or 128 +
    /// the signal that ended it.
    public static func waitForExit(_ pid: pid_t, executable: String) throws(SubprocessError) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { throw SubprocessError(executable: executable, reason: "waitpid: \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}
