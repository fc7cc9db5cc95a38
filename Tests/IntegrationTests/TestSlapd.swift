import Foundation
import LDAPClient
import ManagedSlapd
import Testing

/// The repository root (for `schema/`, `ldif/` and the built binaries).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let resources = TollgateResources(root: repositoryRoot)

/// A free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A short, fresh directory under /tmp (ldapi socket paths must stay short).
func temporaryDirectory(_ tag: String) -> String {
    let path = "/tmp/tgt-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// slapd instances started by this test process; stopped at exit.
nonisolated(unsafe) var startedPidFiles: [String] = []
let stopAtExit: Void = {
    atexit {
        for file in startedPidFiles {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGINT)
            }
        }
    }
}()

/// Starts a managed slapd (config, base DIT, ACLs; plus the demo tenants if `demo`).
func startSlapd(_ tag: String, demo: Bool = true) async throws -> ManagedSlapd {
    _ = stopAtExit
    let slapd = ManagedSlapd(dataDirectory: temporaryDirectory(tag), ldapPort: freePort())
    try await slapd.initialize(resources: resources)
    try await slapd.start()
    startedPidFiles.append(slapd.layout.pidFile.path)
    if demo { try await slapd.loadDemo(resources: resources) }
    return slapd
}

/// One slapd with the demo directory shared by the tests of this process.
actor SharedSlapd {
    static let shared = SharedSlapd()
    private var instance: Task<ManagedSlapd, any Error>?

    func get() async throws -> ManagedSlapd {
        if let instance { return try await instance.value }
        let task = Task { try await startSlapd("shared") }
        instance = task
        return try await task.value
    }

    static func get() async throws -> ManagedSlapd { try await shared.get() }
}

/// Runs a command-line tool and returns its status and combined output.
func run(_ tool: String, _ arguments: [String]) async throws -> ProcessOutput {
    try await Subprocess.run(tool, arguments)
}

/// A unique organisation number for a test's own tenant.
func uniqueOrgNumber() -> String { String(UInt32.random(in: 100_000...999_999_999)) }
