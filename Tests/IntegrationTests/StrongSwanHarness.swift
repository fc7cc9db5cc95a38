// Test support: real strongSwan gateways (charon + swanctl) in network namespaces.
//
// Facts this relies on (see /work/shared/NOTES.md and scripts/install-strongswan):
// - The kernel has no ESP transform: CHILD_SAs use the `kernel-libipsec` plugin (userspace
//   ESP over a TUN device, always UDP-encapsulated on port 4500).
// - charon 5.9.8 always writes /var/run/charon.pid: every instance gets a private /run by a
//   bind mount inside its `ip netns exec` (which runs in its own mount namespace).
// - Traffic stays on addresses inside namespaces the harness created (10.99.x.y).
//
// Typical use:
//
//     try await withTwoGateways { bed in
//         let a = try await bed.startCharon(on: bed.a)
//         try await a.load(SwanctlConfig(connections: [...]))
//         try await a.initiate(child: "tg")
//         let echo = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "hi")
//     }   // charons stopped by PID, namespaces deleted, also when the body throws
//
// Use net-to-net with the gateways' inner addresses (`innerAddress`, a /32 on `lo`) as
// traffic selectors: a host-to-host selector on the outer veth addresses would route
// libipsec's own ESP-in-UDP packets into the tunnel.

import ProcessSpawning
import Foundation
import ManagedSlapd
import Synchronization
import TestSupport
import Testing

// MARK: - Errors and small process helpers

enum HarnessError: Error, CustomStringConvertible {
    case commandFailed(command: String, status: Int32, output: String)
    case charonFailed(String, logTail: String)
    case timeout(String)
    case notRoot
    case missingTool(String)

    var description: String {
        switch self {
        case let .commandFailed(command, status, output):
            "command failed (status \(status)): \(command)\n\(output)"
        case let .charonFailed(message, logTail):
            "\(message)\n--- charon log tail ---\n\(logTail)"
        case let .timeout(message):
            "timeout: \(message)"
        case .notRoot:
            "strongSwan gateway tests need root (network namespaces, TUN, mount --bind); run them as root"
        case let .missingTool(path):
            "\(path) is missing: run scripts/install-strongswan"
        }
    }
}

enum StrongSwanPaths {
    static let ip = "/usr/sbin/ip"
    static let charon = "/usr/lib/ipsec/charon"
    static let swanctl = "/usr/sbin/swanctl"
    static let pki = "/usr/bin/pki"
    static let sh = "/bin/sh"
    static let env = "/usr/bin/env"
    static let python3 = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"

    /// Throws a clear error unless we are root and the strongSwan tools are installed.
    static func requirePrerequisites() throws {
        guard getuid() == 0 else { throw HarnessError.notRoot }
        for tool in [ip, charon, swanctl, pki, "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so",
                     "/usr/lib/ipsec/plugins/libstrongswan-openssl.so"]
        where !FileManager.default.fileExists(atPath: tool) {
            throw HarnessError.missingTool(tool)
        }
    }
}

/// Runs a tool to completion and throws (with its output) unless it exits with 0.
@discardableResult
func runChecked(_ tool: String, _ arguments: [String]) async throws -> String {
    let result = try await Subprocess.run(tool, arguments)
    guard result.status == 0 else {
        throw HarnessError.commandFailed(command: ([tool] + arguments).joined(separator: " "), status: result.status, output: result.output)
    }
    return result.output
}

/// Quotes a string for `/bin/sh -c`.
func shellQuote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// A child process that keeps running (charon); we are its parent, so we reap it.
struct BackgroundProcess: Sendable {
    let pid: pid_t

    /// Spawns `executable` in its own process group with a clean signal mask; stdout and
    /// stderr are appended to `outputPath`.
    static func spawn(_ executable: String, _ arguments: [String], outputPath: String) throws -> BackgroundProcess {
        BackgroundProcess(pid: try Subprocess.spawn(executable, arguments, outputPath: outputPath, append: true, ownProcessGroup: true))
    }

    /// Whether the process has exited (reaps it if so).
    func hasExited() -> Bool {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid || (result == -1 && errno == ECHILD)
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; always reaps.
    func stop(grace: Duration = .seconds(5)) async {
        if hasExited() { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if hasExited() { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        kill(pid, SIGKILL)
        for _ in 0..<100 {
            if hasExited() { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

// MARK: - Network namespaces

/// A network namespace created by the harness (name `tg…`).
struct NetworkNamespace: Sendable, Hashable, CustomStringConvertible {
    let name: String
    var description: String { name }

    /// Creates a namespace with a unique name and `lo` up.
    static func create(prefix: String = "tg") async throws -> NetworkNamespace {
        let name = prefix + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try await runChecked(StrongSwanPaths.ip, ["netns", "add", name])
        let namespace = NetworkNamespace(name: name)
        do {
            try await namespace.ip(["link", "set", "lo", "up"])
        } catch {
            await namespace.delete()
            throw error
        }
        return namespace
    }

    /// Runs a command inside the namespace (`ip netns exec`); never throws on exit status.
    func exec(_ arguments: [String]) async throws -> ProcessOutput {
        try await Subprocess.run(StrongSwanPaths.ip, ["netns", "exec", name] + arguments)
    }

    /// Runs a command inside the namespace and throws unless it succeeds.
    @discardableResult
    func execChecked(_ arguments: [String]) async throws -> String {
        try await runChecked(StrongSwanPaths.ip, ["netns", "exec", name] + arguments)
    }

    /// `ip -n NAME …`
    @discardableResult
    func ip(_ arguments: [String]) async throws -> String {
        try await runChecked(StrongSwanPaths.ip, ["-n", name] + arguments)
    }

    /// Adds an address (CIDR) to a device in this namespace.
    func addAddress(_ cidr: String, device: String) async throws {
        try await ip(["address", "add", cidr, "dev", device])
    }

    /// Joins two namespaces with a veth pair (devices named after their namespace), sets
    /// the addresses (CIDR, e.g. "10.99.0.1/24") and brings both ends up. Returns the
    /// device names. The pair is created directly inside the namespaces.
    @discardableResult
    static func connect(_ a: NetworkNamespace, address aAddress: String,
                        _ b: NetworkNamespace, address bAddress: String) async throws -> (String, String) {
        let (aDevice, bDevice) = (String(a.name.prefix(15)), String(b.name.prefix(15)))
        try await runChecked(StrongSwanPaths.ip, ["link", "add", aDevice, "netns", a.name, "type", "veth",
                                                  "peer", "name", bDevice, "netns", b.name])
        try await a.addAddress(aAddress, device: aDevice)
        try await b.addAddress(bAddress, device: bDevice)
        try await a.ip(["link", "set", aDevice, "up"])
        try await b.ip(["link", "set", bDevice, "up"])
        return (aDevice, bDevice)
    }

    /// Deletes the namespace (and the veth ends in it); errors are ignored.
    func delete() async {
        _ = try? await Subprocess.run(StrongSwanPaths.ip, ["netns", "delete", name])
    }

    /// Whether the namespace still exists.
    func exists() -> Bool { FileManager.default.fileExists(atPath: "/run/netns/\(name)") }
}

// MARK: - swanctl.conf

/// One IKEv2 connection with certificate authentication and one CHILD_SA.
struct SwanctlConnection: Sendable {
    enum Revocation: String, Sendable { case strict, ifuri, relaxed }

    var name = "tg"
    var childName = "tg"
    var localAddresses: [String]
    var remoteAddresses: [String]
    /// Local certificate and private key (files; copied into the instance's swanctl dir).
    var certificate: String
    var privateKey: String
    /// CA certificates (copied into `x509ca`); optional CRL files (copied into `x509crl`).
    var caCertificates: [String]
    var crls: [String] = []
    /// IKE identities; default: the first local/remote address (matches an IP SAN).
    var localID: String?
    var remoteID: String?
    /// Traffic selectors; `dynamic` means the outer address (host-to-host).
    var localTS: [String] = ["dynamic"]
    var remoteTS: [String] = ["dynamic"]
    var proposals: [String] = ["aes256-sha256-ecp256", "aes256-sha256-modp2048"]
    var espProposals: [String] = ["aes256-sha256", "aes256gcm16"]
    /// `remote.revocation`: `strict` refuses the peer unless a fresh CRL/OCSP says good.
    var revocation: Revocation = .relaxed
    /// Require the peer's certificate to chain to one of these (`remote.cacerts`, basenames).
    var remoteCACertificates: [String] = []
    var startAction: String? = nil
    /// Further `key = value` lines for the connection section.
    var extraConnectionOptions: [String: String] = [:]
    var extraChildOptions: [String: String] = [:]
    var unique = "replace"

    func render() -> String {
        let certificateName = URL(fileURLWithPath: certificate).lastPathComponent
        var lines = ["  \(name) {", "    version = 2",
                     "    local_addrs = \(localAddresses.joined(separator: ","))",
                     "    remote_addrs = \(remoteAddresses.joined(separator: ","))",
                     "    proposals = \(proposals.joined(separator: ","))",
                     "    unique = \(unique)"]
        for (key, value) in extraConnectionOptions.sorted(by: { $0.key < $1.key }) { lines.append("    \(key) = \(value)") }
        lines += ["    local {", "      auth = pubkey", "      certs = \(certificateName)",
                  "      id = \(localID ?? localAddresses[0])", "    }",
                  "    remote {", "      auth = pubkey", "      id = \(remoteID ?? remoteAddresses[0])",
                  "      revocation = \(revocation.rawValue)"]
        if !remoteCACertificates.isEmpty { lines.append("      cacerts = \(remoteCACertificates.joined(separator: ","))") }
        lines += ["    }", "    children {", "      \(childName) {",
                  "        local_ts = \(localTS.joined(separator: ","))",
                  "        remote_ts = \(remoteTS.joined(separator: ","))",
                  "        esp_proposals = \(espProposals.joined(separator: ","))"]
        if let startAction { lines.append("        start_action = \(startAction)") }
        for (key, value) in extraChildOptions.sorted(by: { $0.key < $1.key }) { lines.append("        \(key) = \(value)") }
        lines += ["      }", "    }", "  }"]
        return lines.joined(separator: "\n")
    }
}

struct SwanctlConfig: Sendable {
    var connections: [SwanctlConnection]

    func render() -> String {
        "connections {\n" + connections.map { $0.render() }.joined(separator: "\n") + "\n}\n"
    }
}

// MARK: - SA status (`swanctl --list-sas --raw`)

struct ChildSAStatus: Sendable, CustomStringConvertible {
    var name: String
    var uniqueID: String
    var state: String
    var bytesIn: UInt64
    var packetsIn: UInt64
    var bytesOut: UInt64
    var packetsOut: UInt64
    var localTS: [String]
    var remoteTS: [String]

    var description: String {
        "\(name)#\(uniqueID) \(state) in \(bytesIn)B/\(packetsIn)p out \(bytesOut)B/\(packetsOut)p \(localTS) === \(remoteTS)"
    }
}

struct IKESAStatus: Sendable, CustomStringConvertible {
    var name: String
    var uniqueID: String
    var state: String
    var localHost: String
    var remoteHost: String
    var localID: String
    var remoteID: String
    var children: [ChildSAStatus]

    var description: String { "\(name)#\(uniqueID) \(state) \(localHost)[\(localID)] - \(remoteHost)[\(remoteID)] \(children)" }
}

/// Parser for the raw VICI message dump swanctl prints with `--raw`:
/// `list-sa event {tg {uniqueid=1 … child-sas {tg-1 {name=tg bytes-in=42 … local-ts=[10.0.0.1/32]}}}}`.
enum VICIRaw {
    indirect enum Node: Sendable {
        case value(String)
        case list([String])
        case section([(String, Node)])

        subscript(key: String) -> Node? {
            guard case let .section(items) = self else { return nil }
            return items.first { $0.0 == key }?.1
        }
        var string: String? { if case let .value(text) = self { text } else { nil } }
        var strings: [String] { if case let .list(items) = self { items } else if let string { [string] } else { [] } }
        var entries: [(String, Node)] { if case let .section(items) = self { items } else { [] } }
    }

    /// Parses one message (the text from its first `{`).
    static func parse(_ text: Substring) -> Node {
        var index = text.startIndex
        func skipSpace() { while index < text.endIndex, text[index].isWhitespace { index = text.index(after: index) } }
        func word(stoppingAt stops: Set<Character>) -> String {
            let start = index
            while index < text.endIndex, !text[index].isWhitespace, !stops.contains(text[index]) { index = text.index(after: index) }
            return String(text[start..<index])
        }
        func section() -> Node {
            var items: [(String, Node)] = []
            while true {
                skipSpace()
                guard index < text.endIndex else { break }
                if text[index] == "}" { index = text.index(after: index); break }
                let key = word(stoppingAt: ["=", "{", "}"])
                skipSpace()
                guard index < text.endIndex else { break }
                if text[index] == "{" {
                    index = text.index(after: index)
                    items.append((key, section()))
                } else if text[index] == "=" {
                    index = text.index(after: index)
                    if index < text.endIndex, text[index] == "[" {
                        index = text.index(after: index)
                        let end = text[index...].firstIndex(of: "]") ?? text.endIndex
                        items.append((key, .list(text[index..<end].split(separator: " ").map(String.init))))
                        index = end < text.endIndex ? text.index(after: end) : end
                    } else {
                        items.append((key, .value(word(stoppingAt: ["}"]))))
                    }
                } else if key.isEmpty {
                    index = text.index(after: index) // stray character: skip
                }
            }
            return .section(items)
        }
        guard let open = text.firstIndex(of: "{") else { return .section([]) }
        index = text.index(after: open)
        return section()
    }

    static func listSAs(_ output: String) -> [IKESAStatus] {
        var result: [IKESAStatus] = []
        for line in output.split(separator: "\n") where line.hasPrefix("list-sa event") {
            for (name, ike) in parse(line).entries {
                let children = (ike["child-sas"]?.entries ?? []).map { key, child in
                    ChildSAStatus(
                        name: child["name"]?.string ?? key,
                        uniqueID: child["uniqueid"]?.string ?? "",
                        state: child["state"]?.string ?? "",
                        bytesIn: UInt64(child["bytes-in"]?.string ?? "") ?? 0,
                        packetsIn: UInt64(child["packets-in"]?.string ?? "") ?? 0,
                        bytesOut: UInt64(child["bytes-out"]?.string ?? "") ?? 0,
                        packetsOut: UInt64(child["packets-out"]?.string ?? "") ?? 0,
                        localTS: child["local-ts"]?.strings ?? [],
                        remoteTS: child["remote-ts"]?.strings ?? [])
                }
                result.append(IKESAStatus(
                    name: name, uniqueID: ike["uniqueid"]?.string ?? "", state: ike["state"]?.string ?? "",
                    localHost: ike["local-host"]?.string ?? "", remoteHost: ike["remote-host"]?.string ?? "",
                    localID: ike["local-id"]?.string ?? "", remoteID: ike["remote-id"]?.string ?? "",
                    children: children))
            }
        }
        return result
    }
}

// MARK: - charon

/// One charon daemon in a network namespace, with everything under `directory`:
/// `strongswan.conf`, `run/` (bind-mounted on /run: pid file, VICI socket), `swanctl/`
/// (swanctl.conf and credential dirs), `charon.log` (filelog) and `charon.out` (stdout/err).
final class CharonInstance: Sendable {
    let namespace: NetworkNamespace
    let directory: String
    let process: BackgroundProcess
    private let stopped = Mutex(false)

    var pid: pid_t { process.pid }
    var runDirectory: String { directory + "/run" }
    var swanctlDirectory: String { directory + "/swanctl" }
    var viciURI: String { "unix://\(runDirectory)/charon.vici" }
    var logFile: String { directory + "/charon.log" }
    var outputFile: String { directory + "/charon.out" }
    var configFile: String { directory + "/strongswan.conf" }

    static let plugins = "random nonce openssl kdf hmac sha2 sha1 aes gcm pem pkcs1 pkcs8 x509 revocation constraints pubkey curl ldap kernel-libipsec kernel-netlink socket-default vici updown"

    /// The instance's strongswan.conf (NOTES.md: load list with kdf, kernel-libipsec before
    /// kernel-netlink; VICI socket in the instance dir; file log for diagnosis).
    static func strongswanConf(directory: String, logLevels: [String: Int], extra: String) -> String {
        let levels = logLevels.sorted { $0.key < $1.key }.map { "        \($0.key) = \($0.value)" }.joined(separator: "\n")
        return """
        charon {
          load_modular = no
          load = \(plugins)
          # Fail fast instead of retransmitting for minutes.
          retransmit_tries = 3
          retransmit_timeout = 1.0
          retransmit_base = 1.4
          filelog {
            tollgate {
              path = \(directory)/charon.log
              time_format = %H:%M:%S
              ike_name = yes
              append = yes
              flush_line = yes
        \(levels)
            }
          }
          syslog {
            daemon {
              default = -1
            }
          }
          plugins {
            vici {
              socket = unix://\(directory)/run/charon.vici
            }
          }
        \(extra)
        }

        """
    }

    private init(namespace: NetworkNamespace, directory: String, process: BackgroundProcess) {
        self.namespace = namespace
        self.directory = directory
        self.process = process
    }

    /// Writes the instance dir, starts charon inside `namespace` with a private /run and
    /// waits until it answers on its VICI socket.
    /// - Parameter extraCharonConfig: more lines inside `charon { … }` (e.g. `cache_crls = yes`).
    static func start(in namespace: NetworkNamespace, directory: String,
                      logLevels: [String: Int] = ["default": 1, "ike": 2, "cfg": 2, "knl": 1, "net": 1, "lib": 1],
                      extraCharonConfig: String = "",
                      startTimeout: Duration = .seconds(15)) async throws -> CharonInstance {
        let manager = FileManager.default
        for sub in ["run", "swanctl/x509", "swanctl/x509ca", "swanctl/x509crl", "swanctl/private"] {
            try manager.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
        }
        // A restart in the same dir: a stale pid file (after SIGKILL) would make charon
        // refuse to start, a stale socket would look ready.
        for stale in ["run/charon.pid", "run/charon.vici"] { try? manager.removeItem(atPath: directory + "/" + stale) }
        try strongswanConf(directory: directory, logLevels: logLevels, extra: extraCharonConfig)
            .write(toFile: directory + "/strongswan.conf", atomically: true, encoding: .utf8)
        // `ip netns exec` runs in a fresh mount namespace (slave of the host's): the bind
        // mount stays private to this charon. `ip` and `sh` exec, so the pid is charon's.
        let script = "mount --bind \(shellQuote(directory + "/run")) /run && "
            + "export STRONGSWAN_CONF=\(shellQuote(directory + "/strongswan.conf")) && exec \(StrongSwanPaths.charon)"
        let process = try BackgroundProcess.spawn(StrongSwanPaths.ip, ["netns", "exec", namespace.name, StrongSwanPaths.sh, "-c", script],
                                                  outputPath: directory + "/charon.out")
        let instance = CharonInstance(namespace: namespace, directory: directory, process: process)
        do {
            try await instance.waitUntilReady(timeout: startTimeout)
        } catch {
            await instance.stop()
            throw error
        }
        return instance
    }

    private func waitUntilReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            if process.hasExited() {
                stopped.withLock { $0 = true }
                throw HarnessError.charonFailed("charon in \(namespace) exited during start-up", logTail: diagnostics())
            }
            if FileManager.default.fileExists(atPath: runDirectory + "/charon.vici") {
                let result = try await swanctl(["--stats"])
                if result.status == 0 { return }
                last = result.output
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError.charonFailed("charon in \(namespace) did not answer on \(viciURI) within \(timeout): \(last)", logTail: diagnostics())
    }

    /// Runs swanctl against this instance (`--uri` appended; SWANCTL_DIR = instance dir).
    func swanctl(_ arguments: [String]) async throws -> ProcessOutput {
        try await Subprocess.run(StrongSwanPaths.env, ["SWANCTL_DIR=\(swanctlDirectory)", StrongSwanPaths.swanctl]
                                 + arguments + ["--uri", viciURI])
    }

    /// Like `swanctl(_:)`, but throws with the charon log tail unless it succeeds.
    @discardableResult
    func swanctlChecked(_ arguments: [String]) async throws -> String {
        let result = try await swanctl(arguments)
        guard result.status == 0 else {
            throw HarnessError.charonFailed("swanctl \(arguments.joined(separator: " ")) failed (\(result.status)) in \(namespace):\n\(result.output)",
                                            logTail: logTail())
        }
        return result.output
    }

    /// Copies the connections' credentials into the swanctl dirs, writes swanctl.conf and
    /// runs `swanctl --load-all`.
    @discardableResult
    func load(_ config: SwanctlConfig) async throws -> String {
        var config = config
        for index in config.connections.indices {
            let connection = config.connections[index]
            config.connections[index].certificate = try install(connection.certificate, into: "x509")
            try install(connection.privateKey, into: "private")
            for ca in connection.caCertificates { try install(ca, into: "x509ca") }
            for crl in connection.crls { try install(crl, into: "x509crl") }
        }
        try config.render().write(toFile: swanctlDirectory + "/swanctl.conf", atomically: true, encoding: .utf8)
        return try await loadAll()
    }

    /// `swanctl --load-all --file DIR/swanctl/swanctl.conf` (after editing files by hand).
    @discardableResult
    func loadAll() async throws -> String {
        try await swanctlChecked(["--load-all", "--file", swanctlDirectory + "/swanctl.conf"])
    }

    /// Copies a file into a swanctl credential dir (x509, x509ca, x509crl, private) and
    /// returns its path there. A different file with the same name (two CAs' `ca.pem`)
    /// gets a numbered name instead of replacing the first; an identical one is reused.
    @discardableResult
    func install(_ file: String, into subdirectory: String) throws -> String {
        let manager = FileManager.default
        let base = URL(fileURLWithPath: file).lastPathComponent
        var number = 1
        while true {
            let target = swanctlDirectory + "/" + subdirectory + "/" + (number == 1 ? base : "\(number)-\(base)")
            if !manager.fileExists(atPath: target) {
                try manager.copyItem(atPath: file, toPath: target)
                return target
            }
            if file == target || manager.contentsEqual(atPath: file, andPath: target) { return target }
            number += 1
        }
    }

    /// `swanctl --initiate --child NAME`; throws (with the log tail) if the CHILD_SA is not
    /// established. The output is swanctl's log stream of the exchange.
    @discardableResult
    func initiate(child: String, ike: String? = nil, timeout: Int = 15) async throws -> String {
        var arguments = ["--initiate", "--child", child, "--timeout", String(timeout)]
        if let ike { arguments += ["--ike", ike] }
        return try await swanctlChecked(arguments)
    }

    /// `swanctl --initiate` without throwing: status 0 means established.
    func tryInitiate(child: String, timeout: Int = 15) async throws -> ProcessOutput {
        try await swanctl(["--initiate", "--child", child, "--timeout", String(timeout)])
    }

    /// `swanctl --terminate --ike NAME`.
    func terminate(ike: String, timeout: Int = 10) async throws {
        try await swanctlChecked(["--terminate", "--ike", ike, "--timeout", String(timeout)])
    }

    /// The IKE_SAs with their CHILD_SAs and counters (`swanctl --list-sas --raw`).
    func listSAs() async throws -> [IKESAStatus] {
        VICIRaw.listSAs(try await swanctlChecked(["--list-sas", "--raw"]))
    }

    /// All installed CHILD_SAs named `name`.
    func childSAs(named name: String) async throws -> [ChildSAStatus] {
        try await listSAs().flatMap(\.children).filter { $0.name == name }
    }

    /// The last lines of charon's log.
    func logTail(_ lines: Int = 60) -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "(no log at \(logFile))"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Log tail plus charon's stdout/stderr (for start-up failures).
    func diagnostics() -> String {
        let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        return logTail() + (output.isEmpty ? "" : "\n--- charon stdout/stderr ---\n" + output)
    }

    /// Stops charon by PID: SIGTERM, then SIGKILL after `grace`. Idempotent.
    func stop(grace: Duration = .seconds(5)) async {
        if stopped.withLock({ let was = $0; $0 = true; return was }) { return }
        await process.stop(grace: grace)
    }
}

// MARK: - Two gateways

/// A gateway: its namespace, outer (veth) address and inner address (a /32 on `lo`,
/// for net-to-net traffic selectors).
struct Gateway: Sendable, CustomStringConvertible {
    let namespace: NetworkNamespace
    let outerAddress: String
    let innerAddress: String
    var description: String { "\(namespace.name) \(outerAddress) inner \(innerAddress)" }
}

/// The result of a UDP echo through the network.
struct EchoResult: Sendable {
    var payload: String
    var reply: String?
    var clientOutput: String
    var serverOutput: String
    var elapsed: Duration
    var succeeded: Bool { reply == payload }
}

/// Two namespaces joined by a veth pair, and the charons started in them; `shutdown()`
/// stops the charons (by PID) and deletes the namespaces.
final class GatewayTestBed: Sendable {
    let a: Gateway
    let b: Gateway
    let directory: String
    private let charons = Mutex<[CharonInstance]>([])
    private let namespaces: [NetworkNamespace]

    init(a: Gateway, b: Gateway, directory: String) {
        self.a = a
        self.b = b
        self.directory = directory
        self.namespaces = [a.namespace, b.namespace]
    }

    /// Creates the two namespaces: outer 10.99.N.1/24 and 10.99.N.2/24 on the veth pair,
    /// inner 10.99.(100+N).1/32 and .2/32 on `lo`.
    static func create(subnet: Int = 0, directory: String? = nil) async throws -> GatewayTestBed {
        precondition((0..<100).contains(subnet), "subnet index 0..<100")
        let directory = directory ?? temporaryDirectory("sw")
        let first = try await NetworkNamespace.create()
        let second: NetworkNamespace
        do { second = try await NetworkNamespace.create() } catch { await first.delete(); throw error }
        let a = Gateway(namespace: first, outerAddress: "10.99.\(subnet).1", innerAddress: "10.99.\(100 + subnet).1")
        let b = Gateway(namespace: second, outerAddress: "10.99.\(subnet).2", innerAddress: "10.99.\(100 + subnet).2")
        let bed = GatewayTestBed(a: a, b: b, directory: directory)
        do {
            try await NetworkNamespace.connect(first, address: a.outerAddress + "/24", second, address: b.outerAddress + "/24")
            try await first.addAddress(a.innerAddress + "/32", device: "lo")
            try await second.addAddress(b.innerAddress + "/32", device: "lo")
        } catch {
            await bed.shutdown()
            throw error
        }
        return bed
    }

    /// Starts a charon in the gateway's namespace (instance dir `DIR/<namespace>`); it is
    /// stopped by `shutdown()`.
    func startCharon(on gateway: Gateway, extraCharonConfig: String = "") async throws -> CharonInstance {
        let charon = try await CharonInstance.start(in: gateway.namespace, directory: directory + "/" + gateway.namespace.name,
                                                    extraCharonConfig: extraCharonConfig)
        charons.withLock { $0.append(charon) }
        return charon
    }

    /// A net-to-net connection from `local` to `remote` (inner /32s as traffic selectors,
    /// outer addresses as IKE endpoints and identities).
    func netToNet(from local: Gateway, to remote: Gateway, certificate: String, privateKey: String,
                  caCertificates: [String], revocation: SwanctlConnection.Revocation = .relaxed) -> SwanctlConnection {
        SwanctlConnection(localAddresses: [local.outerAddress], remoteAddresses: [remote.outerAddress],
                          certificate: certificate, privateKey: privateKey, caCertificates: caCertificates,
                          localTS: [local.innerAddress + "/32"], remoteTS: [remote.innerAddress + "/32"],
                          revocation: revocation)
    }

    /// Sends `payload` by UDP from `client`'s inner address to a one-shot echo server on
    /// `server`'s inner address (retrying every 250 ms, so no start-up race) and waits for
    /// the echo; bounded by `timeout`. Returns whether the payload came back.
    func udpEcho(from client: Gateway, to server: Gateway, payload: String, port: Int = 7777,
                 useInnerAddresses: Bool = true, timeout: Double = 5) async throws -> EchoResult {
        let source = useInnerAddresses ? client.innerAddress : client.outerAddress
        let destination = useInnerAddresses ? server.innerAddress : server.outerAddress
        return try await udpEcho(client: client.namespace, source: source, server: server.namespace,
                                 destination: destination, payload: payload, port: port, timeout: timeout)
    }

    static let echoServer = """
    import socket, sys, time
    addr, port, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    n, end = 0, deadline
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            break
        s.sendto(data, peer)
        n += 1
        print("echoed", len(data), "bytes to", peer, flush=True)
        end = min(deadline, time.monotonic() + 0.5)
    print("server done,", n, "echoes", flush=True)
    sys.exit(0 if n else 3)
    """

    static let echoClient = """
    import socket, sys, time
    src, dst, port, payload, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode(), float(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            s.sendto(payload, (dst, port))
        except OSError as e:
            print("send:", e, flush=True)
        s.settimeout(max(0.01, min(0.25, deadline - time.monotonic())))
        try:
            data, peer = s.recvfrom(65535)
            if data == payload:
                print("REPLY:" + data.decode(), flush=True)
                sys.exit(0)
        except (socket.timeout, OSError):
            pass
    print("no reply within", timeout, "s", flush=True)
    sys.exit(1)
    """

    /// The general form: any namespaces and addresses.
    func udpEcho(client: NetworkNamespace, source: String?, server: NetworkNamespace, destination: String,
                 payload: String, port: Int = 7777, timeout: Double = 5) async throws -> EchoResult {
        let started = ContinuousClock.now
        async let serverRun = server.exec([StrongSwanPaths.python3, "-c", Self.echoServer, destination, String(port), String(timeout + 0.5)])
        // Let the server bind first (the client retries anyway).
        try await Task.sleep(for: .milliseconds(100))
        let clientRun = try await client.exec([StrongSwanPaths.python3, "-c", Self.echoClient, source ?? "", destination,
                                               String(port), payload, String(timeout)])
        let serverResult = try await serverRun
        let reply = clientRun.output.split(separator: "\n").first { $0.hasPrefix("REPLY:") }.map { String($0.dropFirst(6)) }
        return EchoResult(payload: payload, reply: reply, clientOutput: clientRun.output,
                          serverOutput: serverResult.output, elapsed: ContinuousClock.now - started)
    }

    /// Log tails of all charons (for failure messages).
    func diagnostics(lines: Int = 40) -> String {
        charons.withLock { $0 }.map { "=== charon in \($0.namespace) (\($0.directory)) ===\n" + $0.logTail(lines) }
            .joined(separator: "\n")
    }

    /// Stops all charons (SIGTERM, then SIGKILL) and deletes both namespaces.
    func shutdown() async {
        let running = charons.withLock { $0 }
        await withTaskGroup(of: Void.self) { group in
            for charon in running { group.addTask { await charon.stop() } }
        }
        for namespace in namespaces { await namespace.delete() }
    }
}

/// Creates two connected gateway namespaces, runs `body`, then always stops the charons
/// and deletes the namespaces (also when `body` throws).
func withTwoGateways<T: Sendable>(subnet: Int = 0, _ body: (GatewayTestBed) async throws -> T) async throws -> T {
    try StrongSwanPaths.requirePrerequisites()
    let bed = try await GatewayTestBed.create(subnet: subnet)
    let result: Result<T, any Error>
    do { result = .success(try await body(bed)) } catch { result = .failure(error) }
    // An unstructured task does not inherit cancellation (a `.timeLimit` that fired): the
    // SIGTERM grace period still waits instead of spinning on cancelled sleeps.
    await Task { await bed.shutdown() }.value
    return try result.get()
}

// MARK: - Certificates with strongSwan's pki

/// A throw-away CA made with `pki` (ECDSA P-256), issuing gateway certificates.
struct StrongSwanTestPKI: Sendable {
    let directory: String
    let caCertificate: String
    let caKey: String

    /// Runs pki through the shell: pki prints plugin warnings (TPM) on stderr, which must
    /// not end up in the PEM on stdout.
    static func pki(_ arguments: [String], output: String) async throws {
        let command = ([StrongSwanPaths.pki] + arguments).map(shellQuote).joined(separator: " ")
        try await runChecked(StrongSwanPaths.sh, ["-c", "\(command) > \(shellQuote(output)) 2>\(shellQuote(output + ".err"))"
                                                  + " && rm -f \(shellQuote(output + ".err")) || { cat \(shellQuote(output + ".err")); exit 1; }"])
    }

    static func generateKey(_ path: String) async throws {
        try await pki(["--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"], output: path)
    }

    /// Creates a self-signed CA in `directory` (ca.pem, ca.key).
    static func create(in directory: String, name: String = "Tollgate Test CA") async throws -> StrongSwanTestPKI {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = directory + "/ca.key", certificate = directory + "/ca.pem"
        try await generateKey(key)
        try await pki(["--self", "--ca", "--lifetime", "30", "--in", key, "--type", "ecdsa", "--dn", "CN=\(name)", "--outform", "pem"],
                      output: certificate)
        return StrongSwanTestPKI(directory: directory, caCertificate: certificate, caKey: key)
    }

    /// Issues a certificate (new key) for `name` with the given SANs (IP or DNS) and CRL
    /// distribution points; returns (certificate, key) paths.
    func issue(name: String, sans: [String], crlURIs: [String] = [], flags: [String] = ["serverAuth", "clientAuth"])
        async throws -> (certificate: String, key: String) {
        let key = directory + "/\(name).key", certificate = directory + "/\(name).pem"
        try await Self.generateKey(key)
        var arguments = ["--issue", "--lifetime", "30", "--cacert", caCertificate, "--cakey", caKey,
                         "--in", key, "--type", "priv", "--dn", "CN=\(sans.first ?? name)", "--outform", "pem"]
        for san in sans { arguments += ["--san", san] }
        for flag in flags { arguments += ["--flag", flag] }
        for uri in crlURIs { arguments += ["--crl", uri] }
        try await Self.pki(arguments, output: certificate)
        return (certificate, key)
    }

    /// Signs a CRL (PEM) revoking `certificates` (reason key-compromise); an empty list
    /// gives a valid CRL that revokes nothing. Returns its path.
    func signCRL(revoking certificates: [String], name: String = "ca.crl", lifetimeDays: Int = 15) async throws -> String {
        let path = directory + "/" + name
        var arguments = ["--signcrl", "--cacert", caCertificate, "--cakey", caKey, "--lifetime", String(lifetimeDays),
                         "--outform", "pem"]
        for certificate in certificates { arguments += ["--reason", "key-compromise", "--cert", certificate] }
        try await Self.pki(arguments, output: path)
        return path
    }
}
