import Foundation
import LDAPClient
import Logging
import ProcessSpawning

/// A slapd owned by Tollgate under a data directory: the embedded default directory.
///
/// `initialize()` writes cn=config (``SlapdConfiguration``), loads the base DIT and the
/// ACLs and sets the service account's password; `start()` launches slapd on
/// `ldap://127.0.0.1:<port>` and `ldapi://DIR/run/ldapi` with a pid file; `stop()` ends it
/// with SIGINT (slapd then saves its contextCSN cleanly).
public struct ManagedSlapd: Sendable {
    public let layout: InstanceLayout
    public var host: String = "127.0.0.1"
    public var ldapPort: Int
    /// More `ldap://ADDRESS:PORT` listeners besides 127.0.0.1 and the ldapi socket, e.g. an
    /// address IPsec gateways reach to fetch the CRL.
    public var additionalListeners: [String] = []
    public var slapdPath = "/usr/sbin/slapd"
    public var slapaddPath = "/usr/sbin/slapadd"

    /// The default LDAP port of a managed instance.
    public static let defaultPort = 3389

    /// An instance under `dataDirectory`. The port is, in order: `ldapPort` when given,
    /// the one recorded at init, ``defaultPort``.
    public init(dataDirectory: String, ldapPort: Int? = nil) {
        layout = InstanceLayout(dataDirectory: dataDirectory)
        self.ldapPort = ldapPort ?? Self.recordedPort(layout) ?? Self.defaultPort
    }

    public var ldapURL: String { "ldap://\(host):\(ldapPort)" }
    public var ldapiURL: String { LDAPConfiguration.ldapiURL(socketPath: layout.socket.path) }

    /// A client that binds with SASL EXTERNAL over ldapi:// (acts as the service account).
    public func client(maximumConnections: Int = 4) -> LDAPClient {
        LDAPClient(configuration: LDAPConfiguration(url: ldapiURL, credentials: .saslExternal,
                                                    maximumConnections: maximumConnections))
    }

    public var isInitialized: Bool {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: layout.configDirectory.path)) ?? []
        return !files.isEmpty
    }

    // MARK: - Status

    public enum Status: Sendable, Equatable, CustomStringConvertible {
        case notInitialized
        case stopped
        case running(pid: Int32)

        public var description: String {
            switch self {
            case .notInitialized: return "not initialized"
            case .stopped: return "stopped"
            case .running(let pid): return "running (pid \(pid))"
            }
        }
    }

    public func status() -> Status {
        guard isInitialized else { return .notInitialized }
        guard let pid = runningPID() else { return .stopped }
        return .running(pid: pid)
    }

    /// The pid from the pid file if that process is alive and is a slapd.
    public func runningPID() -> Int32? {
        guard let text = try? String(contentsOf: layout.pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        guard kill(pid, 0) == 0 || errno == EPERM else { return nil }
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        guard String(decoding: cmdline, as: UTF8.self).contains("slapd") else { return nil }
        return pid
    }

    // MARK: - Init

    /// Creates the instance: cn=config, database, base DIT, ACLs, service password.
    /// With `populate: false` only cn=config is written (the database stays empty and the
    /// data ACLs closed), for loading `ldif/` by hand. Returns false (and changes nothing)
    /// if the directory was initialized already.
    @discardableResult
    public func initialize(resources: TollgateResources, populate: Bool = true,
                           logger: Logger = Logger(label: "tollgate.slapd")) async throws -> Bool {
        SignalSafety.ignoreSIGPIPE
        if isInitialized { return false }
        let fm = FileManager.default
        for dir in [layout.root, layout.configDirectory, layout.databaseDirectory, layout.runDirectory, layout.logDirectory] {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
        try fm.createDirectory(at: layout.secretsDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard layout.socket.path.utf8.count < 100 else {
            throw SlapdError.invalidDataDirectory("the socket path \(layout.socket.path) is too long for a Unix socket; use a shorter data directory path")
        }
        let configuration = SlapdConfiguration(layout: layout, schemaLDIF: resources.schemaLDIF)
        let configFile = layout.runDirectory.appendingPathComponent("config.ldif")
        try configuration.ldif.write(to: configFile, atomically: true, encoding: .utf8)
        let added = try await Self.run(slapaddPath, ["-n0", "-F", layout.configDirectory.path, "-l", configFile.path])
        guard added.status == 0 else {
            try? fm.removeItem(at: layout.configDirectory)
            try? fm.createDirectory(at: layout.configDirectory, withIntermediateDirectories: true)
            throw SlapdError.commandFailed("slapadd -n0", added.status, added.output)
        }
        try recordSettings()
        logger.info("wrote cn=config", metadata: ["dir": "\(layout.configDirectory.path)"])
        if !populate { return true }

        let wasRunning = runningPID() != nil
        try await start(logger: logger)
        do {
            let client = self.client(maximumConnections: 1)
            let base = try LDIFParser.parse(String(contentsOf: resources.baseLDIF, encoding: .utf8))
            try await client.apply(base)
            let acl = try LDIFParser.parse(String(contentsOf: resources.aclLDIF, encoding: .utf8))
            try await client.apply(acl)
            let password = Self.randomSecret()
            try await client.setPassword(DistinguishedName(SlapdConfiguration.serviceDN), to: password)
            _ = fm.createFile(atPath: layout.servicePasswordFile.path, contents: Data((password + "\n").utf8),
                          attributes: [.posixPermissions: 0o600])
            await client.close()
        } catch {
            if !wasRunning { _ = try? await stop() }
            throw error
        }
        if !wasRunning { try await stop() }
        return true
    }

    /// Loads `ldif/example.ldif` once (tracked by a marker file). Returns true if it loaded now.
    @discardableResult
    public func loadDemo(resources: TollgateResources) async throws -> Bool {
        if FileManager.default.fileExists(atPath: layout.demoMarker.path) { return false }
        let client = self.client(maximumConnections: 1)
        let records = try LDIFParser.parse(String(contentsOf: resources.exampleLDIF, encoding: .utf8))
        try await client.apply(records, skipExisting: true)
        await client.close()
        _ = FileManager.default.createFile(atPath: layout.demoMarker.path, contents: Data("loaded\n".utf8))
        return true
    }

    // MARK: - Start / stop

    /// Starts slapd if it is not running; waits until it answers over ldapi://.
    /// Returns the pid.
    @discardableResult
    public func start(timeout: Double = 15, logger: Logger = Logger(label: "tollgate.slapd")) async throws -> Int32 {
        guard isInitialized else { throw SlapdError.notInitialized(layout.root.path) }
        SignalSafety.ignoreSIGPIPE
        if let pid = runningPID() { return pid }
        try? FileManager.default.removeItem(at: layout.pidFile)
        try? FileManager.default.removeItem(at: layout.socket)
        let urls = ([ldapURL + "/", ldapiURL] + additionalListeners).joined(separator: " ")
        // slapd detaches itself once its listeners are open; a non-zero status means it
        // could not (port in use, bad config) and its stderr says why.
        let output = layout.logDirectory.appendingPathComponent("slapd.out")
        let result = try await Self.run(slapdPath, ["-F", layout.configDirectory.path, "-h", urls], outputFile: output)
        guard result.status == 0 else {
            let text = result.output
            let log = (try? String(contentsOf: layout.logFile, encoding: .utf8)) ?? ""
            let lastLines = log.split(separator: "\n").suffix(3).joined(separator: "; ")
            throw SlapdError.startFailed("slapd exited with status \(result.status): \(text.suffix(1000))\(lastLines) (see \(layout.logFile.path))")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var lastError: (any Error)?
        while Date() < deadline {
            if let pid = runningPID() {
                let probe = LDAPClient(configuration: LDAPConfiguration(
                    url: ldapiURL, credentials: .saslExternal, maximumConnections: 1, reconnectWindow: 0))
                do {
                    _ = try await probe.whoAmI()
                    do {
                        try await Self.removeSyncprovCheckpoint(probe, logger: logger)
                    } catch {
                        logger.warning("could not check cn=config for olcSpCheckpoint", metadata: ["error": "\(error)"])
                    }
                    await probe.close()
                    logger.info("slapd running", metadata: ["pid": "\(pid)", "urls": "\(urls)"])
                    try recordSettings()
                    return pid
                } catch {
                    lastError = error
                    await probe.close()
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw SlapdError.startFailed("no answer on \(ldapiURL) within \(Int(timeout)) s: \(lastError.map { "\($0)" } ?? "no pid file") (see \(layout.logFile.path))")
    }

    /// The syncprov overlay's entry in cn=config.
    public static let syncprovConfigDN = DistinguishedName("olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config")

    /// Removes `olcSpCheckpoint` from the syncprov overlay of a running instance, as
    /// `start()` does for instances initialised by an earlier Tollgate: with it, slapd 2.5
    /// deadlocks when a checkpoint meets an RFC 5805 transaction (``SlapdConfiguration``).
    /// Returns true when there was one to remove.
    @discardableResult
    public func removeSyncprovCheckpoint(logger: Logger = Logger(label: "tollgate.slapd")) async throws -> Bool {
        let client = client(maximumConnections: 1)
        do {
            let removed = try await Self.removeSyncprovCheckpoint(client, logger: logger)
            await client.close()
            return removed
        } catch {
            await client.close()
            throw error
        }
    }

    @discardableResult
    static func removeSyncprovCheckpoint(_ client: LDAPClient, logger: Logger) async throws -> Bool {
        guard let entry = try await client.read(syncprovConfigDN, attributes: ["olcSpCheckpoint"]),
              let value = entry["olcSpCheckpoint"] else { return false }
        try await client.modify(syncprovConfigDN, [.delete("olcSpCheckpoint")])
        logger.notice("removed olcSpCheckpoint from syncprov: with RFC 5805 transactions it deadlocks slapd 2.5",
                      metadata: ["was": "\(value)"])
        return true
    }

    /// Stops slapd with SIGINT and waits for it to exit (SIGKILL after `timeout`).
    /// Returns false if it was not running.
    @discardableResult
    public func stop(timeout: Double = 20) async throws -> Bool {
        guard let pid = runningPID() else { return false }
        kill(pid, SIGINT)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if kill(pid, 0) != 0 && errno == ESRCH { return true }
            if runningPID() == nil { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(pid, SIGKILL)
        try await Task.sleep(for: .milliseconds(200))
        if runningPID() != nil { throw SlapdError.stopFailed("pid \(pid) survived SIGKILL") }
        return true
    }

    // MARK: - Settings

    private struct Settings: Codable { var ldapPort: Int }

    private func recordSettings() throws {
        let data = try JSONEncoder().encode(Settings(ldapPort: ldapPort))
        try data.write(to: layout.settingsFile)
    }

    private static func recordedPort(_ layout: InstanceLayout) -> Int? {
        guard let data = try? Data(contentsOf: layout.settingsFile),
              let settings = try? JSONDecoder().decode(Settings.self, from: data) else { return nil }
        return settings.ldapPort
    }

    /// 32 random bytes, base64url without padding.
    static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Runs a slapd tool; a program that cannot be started is a ``SlapdError/cannotRun(_:_:)``.
    static func run(_ executable: String, _ arguments: [String], outputFile: URL? = nil) async throws(SlapdError) -> ProcessOutput {
        do throws(SubprocessError) {
            return try await Subprocess.run(executable, arguments, outputFile: outputFile)
        } catch {
            throw .cannotRun(executable, error.reason)
        }
    }
}
