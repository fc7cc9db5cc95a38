import ProcessSpawning
import Foundation
import ManagedSlapd
import TestSupport
import Testing

/// The built `tollgate-agent` binary.
let agentBinary: String = ProcessInfo.processInfo.environment["TOLLGATE_AGENT_BIN"]
    ?? repositoryRoot.appendingPathComponent(".build/debug/tollgate-agent").path

/// Runs `tollgate-agent` to completion.
func agent(_ arguments: [String]) async throws -> ProcessOutput {
    try #require(FileManager.default.isExecutableFile(atPath: agentBinary), "build tollgate-agent first: \(agentBinary)")
    return try await run(agentBinary, arguments)
}

/// A `tollgate serve --demo` of the agent suites' own, so that enrolling the demo converters
/// (which replaces their current certificate) never races the EST suite's assertions.
actor AgentTollgate {
    static let shared = AgentTollgate()
    private var instance: Task<TollgateProcess, any Error>?

    static func get() async throws -> TollgateProcess { try await shared.get() }

    func get() async throws -> TollgateProcess {
        if let instance { return try await instance.value }
        let task = Task { try await SharedTollgate.start(["--demo", "--retry-after", "42"]) }
        instance = task
        return try await task.value
    }
}

/// Writes a signature file and enrols `converter` into a fresh agent directory; returns the directory.
func enrollAgent(_ server: TollgateProcess, subscriberId: String, signature: String, converter: String,
                 extra: [String] = []) async throws -> (dir: String, result: ProcessOutput) {
    let work = temporaryDirectory("agent")
    let signatureFile = work + "/signature"
    try signature.write(toFile: signatureFile, atomically: true, encoding: .utf8)
    let dir = work + "/state"
    let result = try await agent(["enroll", "--server", server.url, "--converter", converter, "--subscriber-id", subscriberId,
                                  "--signature-file", signatureFile, "--dir", dir, "--ca-file", server.rootCA] + extra)
    return (dir, result)
}

/// A tenant of its own with the given converters (name → IP address) on `server`.
func makeTenant(_ server: TollgateProcess, converters: [String: String], signature: String) async throws -> String {
    let org = uniqueOrgNumber()
    let added = try await server.admin(["subscriber", "add", "--org", org, "--id", "\(org)-01", "--name", "Agent Org \(org)",
                                        "--mail", "agent@test.example", "--signature", signature])
    #expect(added.status == 0, "\(added.output)")
    for (name, address) in converters.sorted(by: { $0.key < $1.key }) {
        let converter = try await server.admin(["converter", "add", "--org", org, "--name", name, "--address", address])
        #expect(converter.status == 0, "\(converter.output)")
    }
    return org
}

/// File mode bits (e.g. 0o600).
func fileMode(_ path: String) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { return -1 }
    return Int(info.st_mode & 0o777)
}

/// `ldapmodify`/`ldapadd`/`ldapdelete` as an operator runs them: SASL EXTERNAL over the
/// managed slapd's ldapi socket.
func ldapTool(_ server: TollgateProcess, _ tool: String, ldif: String? = nil, arguments: [String] = []) async throws -> ProcessOutput {
    var all = ["-Q", "-Y", "EXTERNAL", "-H", server.slapd.ldapiURL] + arguments
    if let ldif {
        let file = temporaryDirectory("ldif") + "/change.ldif"
        try ldif.write(toFile: file, atomically: true, encoding: .utf8)
        all += ["-f", file]
    }
    return try await run("/usr/bin/\(tool)", all)
}

/// Polls `condition` every 200 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(200))
    }
    return try await condition()
}

/// `state.json` of a running agent, as a dictionary (nil while absent).
func agentState(_ dir: String) -> [String: Any]? {
    guard let data = FileManager.default.contents(atPath: dir + "/state.json") else { return nil }
    return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
}

/// The `up` children in a running agent's state.json.
func tunnelsUp(_ dir: String) -> [String] {
    ((agentState(dir)?["tunnels"] as? [String: Any])?["up"] as? [String]) ?? []
}
