import ProcessSpawning
import Foundation
import LDAPClient
import ManagedSlapd
import TestSupport
import Testing

/// The repository root (for `schema/`, `ldif/` and the built binaries).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let resources = TollgateResources(root: repositoryRoot)

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
