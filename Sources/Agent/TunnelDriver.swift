import Foundation
import Logging

/// What the tunnels look like after a reconciliation.
public struct TunnelStatus: Sendable, Equatable, Codable {
    /// Children the plan wants.
    public var planned: [String]
    /// Planned children with an installed CHILD_SA.
    public var up: [String]
    /// Children that could not be initiated, with swanctl's complaint.
    public var failed: [String: String]
    /// CHILD_SAs terminated in this round because the plan no longer has them.
    public var terminated: [String]

    public init(planned: [String] = [], up: [String] = [], failed: [String: String] = [:], terminated: [String] = []) {
        self.planned = planned
        self.up = up
        self.failed = failed
        self.terminated = terminated
    }
}

/// Makes a local strongSwan match a `TunnelPlan`: writes the agent's connection (one child
/// per allowed destination) for operators to read, loads it and the agent's credentials
/// over VICI (nothing else of charon's is touched), initiates planned children that are
/// not up and terminates CHILD_SAs whose child is no longer planned (`swanctl`).
public actor TunnelDriver {
    public let settings: StrongSwanSettings
    private let logger: Logger
    /// The config text and certificate serial charon has loaded (as far as we know).
    private var loadedConfig: String?
    private var installedSerial: String?
    /// charon's id of the private key the agent loaded (to unload it after renewal).
    private var loadedKeyID: String?

    public init(settings: StrongSwanSettings, logger: Logger = Logger(label: "tollgate-agent.strongswan")) {
        self.settings = settings
        self.logger = logger
    }

    /// Runs swanctl with SWANCTL_DIR set to the agent's swanctl directory.
    public func swanctl(_ arguments: [String]) async throws(AgentError) -> ProcessRunner.Output {
        var all = arguments
        if let socket = settings.viciSocket { all += ["--uri", "unix://\(socket)"] }
        return try await ProcessRunner.run(settings.swanctl, all, environment: ["SWANCTL_DIR": settings.swanctlDirectory])
    }

    private func swanctlChecked(_ arguments: [String]) async throws(AgentError) -> String {
        let result = try await swanctl(arguments)
        guard result.status == 0 else {
            throw .strongSwan("swanctl \(arguments.joined(separator: " ")) failed (status \(result.status)): "
                              + result.output.split(separator: "\n").suffix(6).joined(separator: " | "))
        }
        return result.output
    }

    /// The IKE_SAs of the agent's connection.
    public func listSAs() async throws(AgentError) -> [IKESAState] {
        SwanctlRaw.listSAs(try await swanctlChecked(["--list-sas", "--ike", settings.connectionName, "--raw"]))
            .filter { $0.name == settings.connectionName }
    }

    /// Brings strongSwan in line with `plan`; `comment` goes into the generated file.
    @discardableResult
    public func apply(_ plan: TunnelPlan, identity: AgentIdentity, comment: String) async throws(AgentError) -> TunnelStatus {
        if installedSerial != identity.certificate.serial {
            try SwanctlConfiguration.installCredentials(settings: settings, identity: identity)
        }
        let config = SwanctlConfiguration.render(plan, settings: settings, certificate: identity.certificate, comment: comment)
        var mustLoad = config != loadedConfig || installedSerial != identity.certificate.serial
        if !mustLoad, !plan.children.isEmpty {
            // charon may have restarted and forgotten the connection.
            let names = SwanctlRaw.connectionNames(try await swanctlChecked(["--list-conns", "--raw"]))
            mustLoad = !names.contains(settings.connectionName)
        }
        if mustLoad {
            try AgentDirectory.writeAtomically(Data(config.utf8), to: settings.configFile, mode: 0o644)
            loadedConfig = nil
            try await load(plan, identity: identity)
            loadedConfig = config
            installedSerial = identity.certificate.serial
            logger.info("loaded strongSwan configuration", metadata: ["children": "\(plan.children.map(\.name))"])
        }

        var status = TunnelStatus(planned: plan.children.map(\.name))
        let planned = Set(plan.children.map(\.name))
        var sas = try await listSAs()
        for ike in sas {
            for child in ike.children where !planned.contains(child.name) {
                let result = try await swanctl(["--terminate", "--child-id", child.uniqueID, "--timeout", String(settings.timeout)])
                if result.status == 0 {
                    status.terminated.append(child.name)
                    logger.notice("terminated CHILD_SA no longer allowed", metadata: ["child": "\(child.name)", "id": "\(child.uniqueID)"])
                } else {
                    logger.warning("could not terminate CHILD_SA", metadata: ["child": "\(child.name)", "output": "\(result.output)"])
                }
            }
        }
        if plan.children.isEmpty {
            for ike in sas {
                _ = try await swanctl(["--terminate", "--ike-id", ike.uniqueID, "--timeout", String(settings.timeout)])
                logger.notice("terminated IKE_SA: no destination is allowed", metadata: ["id": "\(ike.uniqueID)"])
            }
            return status
        }
        if !status.terminated.isEmpty { sas = try await listSAs() }
        var up = Set(sas.flatMap(\.children).filter(\.isUp).map(\.name)).intersection(planned)
        if settings.initiate {
            for child in plan.children where !up.contains(child.name) {
                let result = try await swanctl(["--initiate", "--child", child.name, "--ike", settings.connectionName,
                                                "--timeout", String(settings.timeout)])
                if result.status == 0 {
                    up.insert(child.name)
                    logger.info("CHILD_SA established", metadata: ["child": "\(child.name)", "remote_ts": "\(child.remoteTS)"])
                } else {
                    let why = result.output.split(separator: "\n").suffix(3).joined(separator: " | ")
                    status.failed[child.name] = why
                    logger.warning("could not initiate CHILD_SA", metadata: ["child": "\(child.name)", "output": "\(why)"])
                }
            }
        }
        status.up = plan.children.map(\.name).filter { up.contains($0) }
        return status
    }

    /// Loads the agent's key, certificates and connection into charon over VICI — only
    /// those: other connections and credentials charon has stay as they are (swanctl's
    /// `--load-all` would unload every connection not in the agent's file). With no child
    /// planned the connection is unloaded.
    private func load(_ plan: TunnelPlan, identity: AgentIdentity) async throws(AgentError) {
        let vici = VICIClient(socketPath: settings.viciSocket, timeout: settings.timeout)
        // Always (charon may have restarted and lost them; it keeps one copy of equal credentials).
        do {
            let answer = try await vici.call("load-key", VICIMessage([VICIMessage.value("type", "any"),
                                                                     VICIMessage.value("data", identity.key.pem)]))
            if let old = loadedKeyID, let new = answer["id"], old != new {
                // The key of the certificate before renewal.
                _ = try? await vici.call("unload-key", VICIMessage([VICIMessage.value("id", old)]))
            }
            loadedKeyID = answer["id"] ?? loadedKeyID
            for ca in [identity.ca.root] + identity.ca.issuing {
                try await vici.call("load-cert", VICIMessage([VICIMessage.value("type", "X509"), VICIMessage.value("flag", "CA"),
                                                              VICIMessage.value("data", try CABundle.pem(ca))]))
            }
        }
        if let connection = SwanctlConfiguration.connection(plan, settings: settings, certificate: identity.certificate) {
            try await vici.call("load-conn", VICIMessage([try SwanctlConfiguration.withCredentialData(connection, settings: settings)]))
        } else {
            do {
                try await vici.call("unload-conn", VICIMessage([VICIMessage.value("name", settings.connectionName)]))
            } catch {
                // Not loaded (charon restarted, or never had children): nothing to unload.
                logger.debug("unload-conn", metadata: ["answer": "\(error)"])
            }
        }
    }

    /// Forgets what was loaded, so the next `apply` writes and loads again.
    public func invalidate() {
        loadedConfig = nil
        installedSerial = nil
        loadedKeyID = nil
    }
}
