import Dispatch
import Foundation

/// The outcome of a finished child process.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var output: String
}

/// Runs external programs (slapadd, slapd) with `posix_spawn` and `waitpid` on a
/// dispatch thread, so that Swift's cooperative pool never blocks on them.
///
/// Output goes to a file, not a pipe: slapd detaches into a daemon that would keep a
/// pipe open forever.
public enum Subprocess {
    /// Runs `executable` to completion; its stdout and stderr are written to `outputFile`
    /// (a temporary file when `nil`) and returned.
    public static func run(_ executable: String, _ arguments: [String], outputFile: URL? = nil) async throws -> ProcessOutput {
        let file = outputFile ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("tollgate-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out")
        defer { if outputFile == nil { try? FileManager.default.removeItem(at: file) } }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try spawnAndWait(executable, arguments, outputPath: file.path) })
            }
        }
        let output = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return ProcessOutput(status: status, output: output)
    }

    /// Starts `executable` without waiting: stdin from /dev/null, stdout and stderr into
    /// `outputPath` (truncated, or appended with `append`), a clean signal mask and default
    /// dispositions (dispatch worker threads block most signals and a child inherits that
    /// mask: slapd or charon would never see the signal that stops them). With
    /// `ownProcessGroup` the child does not receive a Ctrl-C aimed at the caller. The
    /// caller reaps the returned pid.
    public static func spawn(_ executable: String, _ arguments: [String], outputPath: String,
                             append: Bool = false, ownProcessGroup: Bool = false) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o640)
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
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SlapdError.cannotRun(executable, String(cString: strerror(rc))) }
        return pid
    }

    private static func spawnAndWait(_ executable: String, _ arguments: [String], outputPath: String) throws -> Int32 {
        let pid = try spawn(executable, arguments, outputPath: outputPath)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { throw SlapdError.cannotRun(executable, "waitpid: \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}
