import Agent
import ArgumentParser
import Dispatch
import Foundation
import Logging

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Keep the certificate fresh, follow the policy and drive strongSwan so only allowed destinations have tunnels.",
        discussion: """
            The policy is long-polled from GET /v1/policy and cached in DIR/policy.json. While the server cannot \
            be reached the last confirmed policy stays in force for --stale-seconds (fail-static); after that, or \
            as soon as the server refuses the certificate, every tunnel is removed (fail closed). Without \
            --peer-address (or peerAddress in agent.json) strongSwan is not driven. DIR/state.json shows the state.
            """)

    @OptionGroup var dir: DirectoryOption
    @Option(help: "The swanctl binary.") var swanctl = "/usr/sbin/swanctl"
    @Option(help: "charon's VICI socket: the agent loads its connection and credentials there (default: /var/run/charon.vici).") var viciSocket: String?
    @Option(help: "Where the agent writes conf.d/tollgate.conf and its credentials (default DIR/swanctl).") var swanctlDir: String?
    @Option(help: "The IPsec peer gateway's address (default: peerAddress in agent.json).") var peerAddress: String?
    @Option(help: "The peer's IKE identity (default: peerId in agent.json, else the peer address).") var peerId: String?
    @Option(help: "Local IKE address (default %any).") var localAddress: String?
    @Option(help: "Local IKE identity (default: the certificate's IP address, else its subject).") var localId: String?
    @Option(help: "Local traffic selector, CIDR (repeatable; default: this host, `dynamic`).") var localTs: [String] = []
    @Flag(inversion: .prefixedNo, help: "Initiate the allowed children (--no-initiate: load them and let the peer initiate).")
    var initiate = true
    @Option(help: "IKE proposal (repeatable; default strongSwan's default).") var ikeProposal: [String] = []
    @Option(help: "ESP proposal (repeatable; default strongSwan's default).") var espProposal: [String] = []
    @Option(help: "Peer certificate revocation checking: relaxed, ifuri or strict.") var revocation = "relaxed"
    @Option(help: "Name of the IKE connection the agent owns.") var connectionName = "tollgate"
    @Option(help: "Seconds a policy long-poll waits on the server (1-300).") var pollWait = 30
    @Option(help: "Seconds the last confirmed policy stays in force while the server is unreachable.") var staleSeconds = 600
    @Option(help: "Seconds between checks of the tunnels against the policy.") var reconcileSeconds = 10
    @Option(help: "Renew the certificate this many days before it expires (default: a third of its lifetime).") var renewBeforeDays: Double?
    @Option(help: "trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "HTTPS monitoring endpoint (GET /v1/status, /v1/traffic; client certificate CN=tollgate-monitor required): HOST:PORT or off.")
    var statusListen = "0.0.0.0:9443"
    @Option(help: "Seconds between readings of strongSwan's traffic counters (1-86400).") var trafficInterval = 60
    @Option(help: "Records the traffic journal keeps until the monitor acknowledges them; beyond, traffic is coalesced and access records are counted as dropped.")
    var journalMaxRecords = 100_000

    func validate() throws {
        guard (1...300).contains(pollWait) else { throw ValidationError("--poll-wait must be 1-300 seconds") }
        guard staleSeconds >= 0 else { throw ValidationError("--stale-seconds must be 0 or more") }
        guard reconcileSeconds >= 1 else { throw ValidationError("--reconcile-seconds must be at least 1") }
        guard ["relaxed", "ifuri", "strict"].contains(revocation) else { throw ValidationError("--revocation must be relaxed, ifuri or strict") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error") }
        guard !connectionName.isEmpty, connectionName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ValidationError("--connection-name takes letters, digits, - and _")
        }
        for ts in localTs where ts != "dynamic" && CIDR(ts) == nil {
            throw ValidationError("--local-ts \(ts) is not a CIDR network")
        }
        if let days = renewBeforeDays, days <= 0 { throw ValidationError("--renew-before-days must be positive") }
        do { _ = try StatusServer.Listen.parse(statusListen) } catch { throw ValidationError(error.description) }
        guard (1...86400).contains(trafficInterval) else { throw ValidationError("--traffic-interval must be 1-86400 seconds") }
        guard journalMaxRecords >= 1 else { throw ValidationError("--journal-max-records must be at least 1") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tollgate-agent")
        try await Report.failing {
            let directory = dir.directory
            let identity = try AgentIdentity.load(directory)
            var strongSwan: StrongSwanSettings?
            if let peer = peerAddress ?? identity.settings.peerAddress {
                guard FileManager.default.isExecutableFile(atPath: swanctl) else {
                    throw AgentError.usage("--swanctl \(swanctl) is not an executable (install strongswan-swanctl or pass its path)")
                }
                strongSwan = StrongSwanSettings(
                    swanctl: swanctl, viciSocket: viciSocket, swanctlDirectory: swanctlDir ?? directory.swanctlDirectory,
                    connectionName: connectionName, peerAddress: peer, peerID: peerId ?? identity.settings.peerId,
                    localAddress: localAddress, localID: localId, localTS: localTs.isEmpty ? ["dynamic"] : localTs,
                    initiate: initiate, ikeProposals: ikeProposal.isEmpty ? ["default"] : ikeProposal,
                    espProposals: espProposal.isEmpty ? ["default"] : espProposal, revocation: revocation)
            } else {
                logger.notice("no --peer-address: keeping certificate and policy only, strongSwan is not driven")
            }
            let settings = RunSettings(pollWait: pollWait, staleSeconds: staleSeconds, reconcileInterval: .seconds(reconcileSeconds),
                                       renewBefore: renewBeforeDays.map { .seconds(Int64($0 * 86400)) }, strongSwan: strongSwan,
                                       statusListen: try StatusServer.Listen.parse(statusListen),
                                       trafficInterval: .seconds(trafficInterval), journalMaxRecords: journalMaxRecords)
            let runner = try AgentRunner(directory: directory, settings: settings, logger: logger)
            let task = Task { await runner.run() }
            let signals = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    logger.notice("stopping (tunnels are left as they are)")
                    task.cancel()
                }
                source.resume()
                return source
            }
            await task.value
            signals.forEach { $0.cancel() }
        }
    }
}
