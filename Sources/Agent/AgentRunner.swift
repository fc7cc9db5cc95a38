import Foundation
import Logging

/// Settings of `tollgate-agent run`.
public struct RunSettings: Sendable {
    /// Seconds a policy long-poll waits on the server (`?wait=`).
    public var pollWait: Int
    /// How long the last confirmed policy is used while the server cannot be reached.
    public var staleSeconds: Int
    /// How often tunnels are checked against the plan even when nothing changed.
    public var reconcileInterval: Duration
    /// Renew when less than this remains; nil: a third of the certificate's lifetime.
    public var renewBefore: Duration?
    /// The local strongSwan to drive; nil: keep certificate and policy only.
    public var strongSwan: StrongSwanSettings?
    /// Where the monitoring endpoint listens (`--status-listen`); nil: off.
    public var statusListen: StatusServer.Listen?
    /// How often strongSwan's counters become traffic records (`--traffic-interval`).
    public var trafficInterval: Duration
    /// The journal's bound (`--journal-max-records`).
    public var journalMaxRecords: Int

    public init(pollWait: Int = 30, staleSeconds: Int = 600, reconcileInterval: Duration = .seconds(10),
                renewBefore: Duration? = nil, strongSwan: StrongSwanSettings? = nil,
                statusListen: StatusServer.Listen? = StatusServer.Listen(host: "0.0.0.0", port: 9443),
                trafficInterval: Duration = .seconds(60), journalMaxRecords: Int = 100_000) {
        self.pollWait = pollWait
        self.staleSeconds = staleSeconds
        self.reconcileInterval = reconcileInterval
        self.renewBefore = renewBefore
        self.strongSwan = strongSwan
        self.statusListen = statusListen
        self.trafficInterval = trafficInterval
        self.journalMaxRecords = journalMaxRecords
    }
}

/// `state.json`: what `run` is doing, rewritten whenever it changes.
public struct AgentState: Codable, Sendable, Equatable {
    /// `current`: policy confirmed by the server; `static`: server unreachable, last policy
    /// still used (fail-static); `closed`: no usable policy, no tunnels (fail closed);
    /// `refused`: the server refused this agent's certificate, no tunnels.
    public var mode: String
    public var policyVersion: String?
    public var confirmedAt: Date?
    /// When the cached policy stops being used if the server stays unreachable.
    public var staleAfter: Date?
    public var certificateSerial: String
    public var certificateNotAfter: Date
    public var renewAt: Date
    public var tunnels: TunnelStatus?
    public var skipped: [String]
    /// Destinations whose tunnel carries less than `check` allows (deny carve-outs IKE
    /// selectors cannot express exactly).
    public var narrowed: [String]
    public var lastError: String?
    public var updated: Date
}

/// The `run` loop: keeps the certificate fresh, follows the policy by long-polling
/// `GET /v1/policy`, caches it (fail-static for `staleSeconds`, then closed) and makes
/// strongSwan's CHILD_SAs match the allowed destinations.
///
/// Two tasks: the poller (network) and the controller (renewal, staleness, strongSwan);
/// the poller wakes the controller when the policy changes or the server stops answering.
public actor AgentRunner {
    public let directory: AgentDirectory
    public let settings: RunSettings
    private let logger: Logger
    private var identity: AgentIdentity
    private var access: AccessClient
    private var cache: PolicyCache?
    /// Set while the server refuses our certificate (401/403 on the policy).
    private var refusal: String?
    /// The poller's last failure, nil after a success.
    private var pollError: String?
    private var nextRenewalAttempt = Date.distantPast
    private var lastState: AgentState?
    private var lastDriverError: String?
    private let wake = WakeSignal()
    private let driver: TunnelDriver?
    private let journal: TrafficJournal
    private let sampler: TrafficSampler
    private var statusServer: StatusServer?
    /// The children the last plan wanted (empty without strongSwan).
    private var plannedChildren: [String] = []
    private let started = Date()

    public init(directory: AgentDirectory, settings: RunSettings, logger: Logger = Logger(label: "tollgate-agent")) throws(AgentError) {
        self.directory = directory
        self.settings = settings
        self.logger = logger
        identity = try AgentIdentity.load(directory)
        access = AccessClient(client: try identity.mutualTLSClient())
        cache = PolicyCache.load(from: directory)
        driver = settings.strongSwan.map { TunnelDriver(settings: $0, logger: logger) }
        journal = try TrafficJournal(directory: TrafficJournal.directory(of: directory), maxRecords: settings.journalMaxRecords)
        sampler = TrafficSampler(driver: driver, journal: journal, interval: settings.trafficInterval, logger: logger)
    }

    /// Runs until the task is cancelled (SIGTERM/SIGINT). Tunnels are left as they are on exit.
    public func run() async {
        logger.info("agent running", metadata: ["converter": "\(identity.settings.converter)", "org": "\(identity.settings.org)",
                                                "server": "\(identity.settings.server)"])
        if let listen = settings.statusListen {
            do {
                statusServer = try StatusServer(listen: listen, identity: identity, journal: journal, logger: logger) { [weak self] in
                    guard let self else { return AgentStatusReport.empty }
                    return await self.statusReport()
                }
            } catch {
                logger.error("the status endpoint cannot start; running without it", metadata: ["error": "\(error)"])
            }
        }
        let server = statusServer
        let sampler = sampler
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.pollLoop() }
            group.addTask { await self.controlLoop() }
            group.addTask { await sampler.run() }
            if let server {
                group.addTask {
                    do {
                        try await server.run()
                    } catch {
                        self.logger.error("the status endpoint cannot start; running without it", metadata: ["error": "\(error)"])
                    }
                }
            }
            await group.waitForAll()
        }
    }

    // MARK: - Status

    /// `GET /v1/status`: identity, tunnels, resources and health with its problems.
    public func statusReport() async -> AgentStatusReport {
        let now = Date()
        var problems: [String] = []
        let state = lastState
        switch state?.mode {
        case "static"?: problems.append("the policy server cannot be reached: the cached policy stays in force until \(state?.staleAfter.map(RFC3339.format) ?? "?") (fail-static)")
        case "closed"?: problems.append("no usable policy: fail closed, no tunnels")
        case "refused"?: problems.append("the server refuses this agent's certificate: no tunnels")
        case nil: problems.append("starting: no policy applied yet")
        default: break
        }
        if let lastDriverError { problems.append("strongSwan: \(lastDriverError)") }
        if now >= renewalTime() {
            problems.append("certificate \(identity.certificate.serial) expires \(RFC3339.format(identity.certificate.notAfter)) and is not renewed yet")
        }
        let planned = plannedChildren
        let up = (state?.tunnels?.up ?? []).filter { planned.contains($0) }
        if planned.count > up.count {
            let down = planned.filter { !up.contains($0) }
            problems.append("\(down.count) of \(planned.count) tunnels are not up: \(down.joined(separator: ", "))")
        }
        if let sampling = await sampler.problem { problems.append("traffic sampling: \(sampling)") }
        let buffered = journal.bufferedRecords
        if buffered >= journal.maxRecords {
            problems.append("the traffic journal is full (\(buffered) records): traffic is coalesced, access records are dropped")
        }
        return AgentStatusReport(
            converter: identity.settings.converter, org: identity.settings.org, version: AgentVersion.string,
            uptimeSeconds: Int(now.timeIntervalSince(started)),
            certificate: .init(serial: identity.certificate.serial, notAfter: RFC3339.format(identity.certificate.notAfter)),
            tunnels: .init(configured: planned.count, up: up.count),
            resources: .init(memoryBytes: AgentStatusReport.residentMemory(), loadAverage1m: AgentStatusReport.loadAverage(),
                             bufferedRecords: buffered),
            health: problems.isEmpty ? "ok" : "degraded", problems: problems)
    }

    // MARK: - Policy

    private func pollLoop() async {
        var backoff = 1
        while !Task.isCancelled {
            let client = access
            let etag = cache?.etag
            let started = ContinuousClock.now
            do {
                let answer = try await client.policy(etag: etag, wait: settings.pollWait)
                backoff = 1
                switch answer {
                case .changed(let policy, let etag):
                    accept(policy, etag: etag)
                case .notModified:
                    confirm()
                    // A server that does not hold the long-poll must not be hammered.
                    if ContinuousClock.now - started < .seconds(1) { try? await Task.sleep(for: .seconds(1)) }
                }
            } catch {
                if Task.isCancelled { break }
                if case .refused(let status, let message) = error {
                    refused("HTTP \(status): \(message)")
                    await wake.signal()
                    try? await Task.sleep(for: .seconds(max(5, settings.pollWait)))
                    continue
                }
                unreachable(error.description)
                await wake.signal()
                try? await Task.sleep(for: .seconds(backoff))
                backoff = min(backoff * 2, 30)
            }
        }
    }

    private func accept(_ policy: AccessPolicy, etag: String) {
        let changed = cache?.policy != policy || refusal != nil
        cache = PolicyCache(etag: etag, confirmedAt: Date(), policy: policy)
        refusal = nil
        pollError = nil
        persistCache()
        if changed {
            logger.info("policy received", metadata: ["version": "\(policy.version)", "destinations": "\(policy.destinations.count)",
                                                      "stale": "\(policy.stale)"])
        }
        Task { await wake.signal() }
    }

    private func confirm() {
        let wasFailing = pollError != nil || refusal != nil
        cache?.confirmedAt = Date()
        refusal = nil
        pollError = nil
        persistCache()
        if wasFailing { Task { await wake.signal() } }
    }

    private func refused(_ why: String) {
        if refusal == nil { logger.error("the server refuses this agent's certificate: no tunnels until it accepts it", metadata: ["reason": "\(why)"]) }
        refusal = why
        pollError = why
    }

    private func unreachable(_ why: String) {
        if pollError == nil { logger.warning("cannot fetch the policy", metadata: ["error": "\(why)"]) }
        pollError = why
    }

    private func persistCache() {
        guard let cache else { return }
        do { try cache.save(to: directory) } catch { logger.warning("cannot write the policy cache", metadata: ["error": "\(error)"]) }
    }

    /// The policy in force at `now`, or nil (fail closed).
    private func effectivePolicy(at now: Date) -> AccessPolicy? {
        guard refusal == nil, let cache, cache.isFresh(at: now, staleSeconds: settings.staleSeconds) else { return nil }
        return cache.policy
    }

    // MARK: - Control

    private func controlLoop() async {
        while !Task.isCancelled {
            await renewIfDue()
            let now = Date()
            let policy = effectivePolicy(at: now)
            let plan = policy.map { TunnelPlan(policy: $0, at: now) } ?? .none
            var tunnels: TunnelStatus?
            var driverError: String?
            if let driver {
                let comment = policy.map { "policy \($0.version) of org \($0.org) for \($0.converter)" } ?? "no usable policy (fail closed)"
                do {
                    tunnels = try await driver.apply(plan, identity: identity, comment: comment)
                } catch {
                    driverError = error.description
                    if error.description != lastDriverError {
                        logger.warning("cannot drive strongSwan; retrying every reconcile interval", metadata: ["error": "\(error)"])
                    }
                }
                lastDriverError = driverError
            }
            plannedChildren = driver == nil ? [] : plan.children.map(\.name)
            writeState(plan: plan, tunnels: tunnels, driverError: driverError, now: now)
            // Wake for changes, at the reconcile interval, when the cache turns stale and
            // when a destination's validity window opens or closes.
            var pause = settings.reconcileInterval
            if let cache, refusal == nil {
                let staleIn = cache.confirmedAt.addingTimeInterval(Double(settings.staleSeconds) + 0.5).timeIntervalSince(now)
                if staleIn > 0 { pause = min(pause, .milliseconds(Int64(staleIn * 1000))) }
                if let next = TunnelPlan.nextChange(of: cache.policy, after: now) {
                    pause = min(pause, .milliseconds(Int64(max(0.1, next.timeIntervalSince(now)) * 1000)))
                }
            }
            await wake.wait(upTo: pause)
        }
    }

    /// When the certificate is renewed: `renewBefore` (default a third of its lifetime)
    /// before it expires.
    private func renewalTime() -> Date {
        let certificate = identity.certificate
        let before = settings.renewBefore.map { Double($0.components.seconds) }
            ?? certificate.notAfter.timeIntervalSince(certificate.notBefore) / 3
        return certificate.notAfter.addingTimeInterval(-before)
    }

    private func renewIfDue() async {
        let now = Date()
        guard now >= renewalTime(), now >= nextRenewalAttempt else { return }
        do {
            let renewed = try await Enrollment.renew(directory)
            identity = renewed
            access = AccessClient(client: try renewed.mutualTLSClient())
            do { try statusServer?.reload(identity: renewed) } catch {
                logger.warning("the status endpoint keeps the old certificate", metadata: ["error": "\(error)"])
            }
            // At most one renewal an hour, also when the lifetime is shorter than --renew-before.
            nextRenewalAttempt = now.addingTimeInterval(3600)
            logger.notice("certificate renewed", metadata: ["serial": "\(renewed.certificate.serial)",
                                                            "notAfter": "\(JSONCoding.formatDate(renewed.certificate.notAfter))"])
        } catch {
            nextRenewalAttempt = now.addingTimeInterval(300)
            logger.warning("certificate renewal failed; retrying in 5 minutes", metadata: ["error": "\(error)"])
        }
    }

    private func writeState(plan: TunnelPlan, tunnels: TunnelStatus?, driverError: String?, now: Date) {
        let mode: String
        if refusal != nil {
            mode = "refused"
        } else if let cache, cache.isFresh(at: now, staleSeconds: settings.staleSeconds) {
            mode = pollError == nil ? "current" : "static"
        } else {
            mode = "closed"
        }
        var tunnelState = tunnels
        tunnelState?.terminated = []
        let state = AgentState(
            mode: mode, policyVersion: cache?.policy.version, confirmedAt: cache?.confirmedAt,
            staleAfter: cache?.confirmedAt.addingTimeInterval(Double(settings.staleSeconds)),
            certificateSerial: identity.certificate.serial, certificateNotAfter: identity.certificate.notAfter,
            renewAt: renewalTime(), tunnels: tunnelState, skipped: plan.skipped, narrowed: plan.narrowed,
            lastError: driverError ?? pollError, updated: now)
        var comparable = state
        comparable.updated = lastState?.updated ?? now
        if comparable == lastState { return }
        if lastState?.mode != mode {
            logger.notice("mode \(mode)", metadata: ["policy": "\(cache?.policy.version ?? "none")"])
        }
        lastState = state
        do {
            let data = try JSONCoding.encoder.encode(state)
            try AgentDirectory.writeAtomically(data + Data("\n".utf8), to: directory.stateFile, mode: 0o644)
        } catch {
            logger.warning("cannot write state.json", metadata: ["error": "\(error)"])
        }
    }
}
