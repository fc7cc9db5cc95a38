import Foundation

/// The agent's state directory (`--dir`): key, certificate, CA, settings, policy cache.
///
/// | File | Content | Mode |
/// |---|---|---|
/// | `agent.key` | private key, PKCS#8 PEM | 0600 |
/// | `agent.pem` | the converter certificate (PEM) | 0644 |
/// | `ca.pem` | Tollgate's root CA, then its issuing CA (PEM) | 0644 |
/// | `agent.json` | server URL, converter, organisation, certificate serial | 0644 |
/// | `policy.json` | the last policy and when the server last confirmed it | 0600 |
/// | `state.json` | what `run` is doing now (for operators and monitoring) | 0644 |
/// | `swanctl/` | generated strongSwan configuration and credentials | 0700 |
/// | `journal/` | the traffic journal and `check`'s access spool (``TrafficJournal``) | 0700 |
///
/// The directory itself is 0700. Every file is written to a temporary name in the same
/// directory, synced and renamed, so a crash leaves the old or the new file, never a torn one.
public struct AgentDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    public var keyFile: String { path + "/agent.key" }
    public var certificateFile: String { path + "/agent.pem" }
    public var caFile: String { path + "/ca.pem" }
    public var configFile: String { path + "/agent.json" }
    public var policyFile: String { path + "/policy.json" }
    public var stateFile: String { path + "/state.json" }
    public var swanctlDirectory: String { path + "/swanctl" }
    /// Staging names used while a renewal replaces key and certificate.
    var nextKeyFile: String { keyFile + ".next" }
    var nextCertificateFile: String { certificateFile + ".next" }

    /// Creates the directory (0700), or tightens an existing one to 0700.
    public func prepare() throws(AgentError) {
        try Self.makeDirectory(path, mode: 0o700)
    }

    /// Creates `directory` (and parents) and sets its mode.
    static func makeDirectory(_ directory: String, mode: mode_t) throws(AgentError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .localFiles("cannot create \(directory): \(error.localizedDescription)")
        }
        guard chmod(directory, mode) == 0 else {
            throw .localFiles("cannot set mode \(String(mode, radix: 8)) on \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the agent has been enrolled here (key, certificate and settings exist).
    public var isEnrolled: Bool {
        [keyFile, certificateFile, caFile, configFile].allSatisfy { FileManager.default.fileExists(atPath: $0) }
    }

    /// Throws a message naming `enroll` unless the directory holds an enrolment.
    public func requireEnrolled() throws(AgentError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw .localFiles("\(path) does not exist: run `tollgate-agent enroll --dir \(path) …` first")
        }
        for file in [keyFile, certificateFile, caFile, configFile] where !FileManager.default.fileExists(atPath: file) {
            throw .localFiles("\(file) is missing: run `tollgate-agent enroll --dir \(path) …` first")
        }
        try Self.requirePrivate(keyFile)
    }

    /// Refuses a key file readable or writable by group or others.
    static func requirePrivate(_ file: String) throws(AgentError) {
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw .localFiles("cannot read \(file): \(String(cString: strerror(errno)))")
        }
        if info.st_mode & 0o077 != 0 {
            throw .localFiles("\(file) has mode \(String(info.st_mode & 0o777, radix: 8)): it must be 0600 (chmod 600 \(file), and treat the key as exposed)")
        }
    }

    /// Reads a file as UTF-8 text.
    public static func read(_ file: String) throws(AgentError) -> String {
        do {
            return try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw .localFiles("cannot read \(file): \(error.localizedDescription)")
        }
    }

    /// Writes `data` to `file` atomically with `mode`: a new file in the same directory
    /// (created with that mode, never wider), fsync, rename over `file`, fsync the directory.
    public static func writeAtomically(_ data: Data, to file: String, mode: mode_t) throws(AgentError) {
        let directory = (file as NSString).deletingLastPathComponent
        let temporary = "\(directory)/.\((file as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw .localFiles("cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var failure: String?
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write \(temporary): \(String(cString: strerror(errno)))"
                    return
                }
                offset += written
            }
        }
        if failure == nil, fchmod(fd, mode) != 0 { failure = "cannot chmod \(temporary): \(String(cString: strerror(errno)))" }
        if failure == nil, fsync(fd) != 0 { failure = "cannot sync \(temporary): \(String(cString: strerror(errno)))" }
        close(fd)
        if failure == nil, rename(temporary, file) != 0 {
            failure = "cannot rename \(temporary) to \(file): \(String(cString: strerror(errno)))"
        }
        if let failure {
            unlink(temporary)
            throw .localFiles(failure)
        }
        syncDirectory(directory)
    }

    /// Renames `from` over `to` and syncs the directory.
    static func move(_ from: String, to: String) throws(AgentError) {
        guard rename(from, to) == 0 else {
            throw .localFiles("cannot rename \(from) to \(to): \(String(cString: strerror(errno)))")
        }
        syncDirectory((to as NSString).deletingLastPathComponent)
    }

    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
