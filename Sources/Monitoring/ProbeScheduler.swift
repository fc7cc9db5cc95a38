import Directory
import Foundation
import LDAPClient
import Logging
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Probes every certified converter's agent once per cycle and collects its traffic.
///
/// Each cycle reads the converters to probe (a certificate serial, not revoked) and the
/// subscribers' mail addresses, then starts one probe per converter, spread evenly over
/// 90 % of the interval and at most ``MonitorSettings/probeConcurrency`` at a time.
/// A probe is `GET /v1/status` over mTLS; its result feeds the converter's
/// ``HealthTracker``. A changed health is written (`tgHealth`, `tgLastSeen`) with a
/// history event through the batched writer; down and recovery mail the subscriber. After
/// a successful probe the ``TrafficCollector`` collects the converter's records.
public final class ProbeScheduler: Service, Sendable {
    public let settings: MonitorSettings
    let layout: DirectoryLayout
    /// Reads (converters, subscribers).
    let client: LDAPClient
    let writer: BatchedWriter
    let collector: TrafficCollector
    let mailer: HealthMailer
    let tls: NIOSSLContext
    let metrics: MonitorMetrics
    let logger: Logger

    private struct Tracked: Sendable {
        var tracker: HealthTracker
        var connection: AgentConnection
        var lastSuccess: Date?
    }
    private let tracked = Mutex<[String: Tracked]>([:])
    private let cycles = Mutex(0)
    private let warnedOpenFiles = Mutex(0)

    /// What one cycle did (logged at notice level, for operators and bench/monitor-run).
    struct CycleCounts: Sendable {
        var probes = 0
        var failed = 0
        var records = 0
        var pages = 0
        var collectionErrors = 0
    }
    private let counts = Mutex(CycleCounts())

    public init(settings: MonitorSettings, layout: DirectoryLayout, client: LDAPClient, writer: BatchedWriter,
                collector: TrafficCollector, mailer: HealthMailer, tls: NIOSSLContext, metrics: MonitorMetrics = MonitorMetrics(),
                logger: Logger) {
        self.settings = settings
        self.layout = layout
        self.client = client
        self.writer = writer
        self.collector = collector
        self.mailer = mailer
        self.tls = tls
        self.metrics = metrics
        self.logger = logger
    }

    /// Cycles completed so far.
    public var completedCycles: Int { cycles.withLock { $0 } }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let started = ContinuousClock.now
                await self.cycle()
                self.cycles.withLock { $0 += 1 }
                let elapsed = ContinuousClock.now - started
                self.metrics.cycleSeconds.record(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                try await Task.sleep(until: started + .milliseconds(Int64(self.settings.probeInterval * 1000)), clock: .continuous)
            }
        }
        let connections = tracked.withLock { $0.values.map(\.connection) }
        for connection in connections { await connection.close() }
    }

    /// One pass over all converters.
    func cycle() async {
        let converters: [MonitoredConverter]
        let mails: [String: String]
        do {
            converters = try await loadConverters()
            mails = try await loadMails()
        } catch {
            logger.warning("monitor: cannot read the converters, skipping this cycle", metadata: ["error": "\(error)"])
            return
        }
        forget(except: Set(converters.map(\.dn.description)))
        warnIfOpenFilesShort(converters: converters.count)
        let spread = settings.probeInterval * 0.9
        let step = converters.isEmpty ? 0 : spread / Double(converters.count)
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for (index, converter) in converters.enumerated() {
                if Task.isCancelled { break }
                let due = start + .milliseconds(Int64(step * Double(index) * 1000))
                if due > ContinuousClock.now { try? await Task.sleep(until: due, clock: .continuous) }
                if running >= settings.probeConcurrency {
                    _ = await group.next()
                    running -= 1
                }
                running += 1
                group.addTask { await self.check(converter, mail: mails[converter.orgNumber]) }
            }
        }
        var healths: [ConverterHealth: Int] = [:]
        tracked.withLock { for value in $0.values { healths[value.tracker.health, default: 0] += 1 } }
        metrics.setCounts(healths)
        let done = counts.withLock { current -> CycleCounts in
            let value = current
            current = CycleCounts()
            return value
        }
        let commits = await collector.committer.takeCounts()
        let elapsed = ContinuousClock.now - start
        logger.notice("probe cycle", metadata: [
            "converters": "\(converters.count)", "seconds": "\(String(format: "%.2f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))",
            "failed": "\(done.failed)", "records": "\(done.records)", "pages": "\(done.pages)", "transactions": "\(commits.transactions)",
            "largestBatch": "\(commits.largestBatch)", "failedBatches": "\(commits.failedBatches)",
            "collectionErrors": "\(done.collectionErrors)",
            "health": "\(ConverterHealth.allCases.map { "\($0.rawValue)=\(healths[$0] ?? 0)" }.joined(separator: ","))"])
    }

    /// Logs (once per size of the fleet) when one connection per converter would not fit
    /// into the open-files limit: probes would then fail with "too many open files".
    private func warnIfOpenFilesShort(converters: Int) {
        guard let soft = OpenFilesLimit.soft, converters + OpenFilesLimit.reserve > soft else { return }
        let first = warnedOpenFiles.withLock { warned in
            defer { warned = converters }
            return warned != converters
        }
        if first {
            logger.warning("monitor: more converters than open files allow; raise the hard limit (ulimit -Hn, LimitNOFILE=)",
                           metadata: ["converters": "\(converters)", "openFilesLimit": "\(soft)"])
        }
    }

    func loadConverters() async throws -> [MonitoredConverter] {
        let entries = try await client.search(base: layout.subscribers, scope: .subtree, filter: MonitoredConverter.filter,
                                              attributes: MonitoredConverter.attributeNames, pageSize: 1000)
        return entries.compactMap { entry in
            let converter = MonitoredConverter(entry: entry, defaultPort: settings.defaultStatusPort)
            if converter == nil { logger.warning("monitor: converter entry without name, tenant or address", metadata: ["dn": "\(entry.dn)"]) }
            return converter
        }
    }

    func loadMails() async throws -> [String: String] {
        let entries = try await client.search(base: layout.subscribers, scope: .oneLevel, filter: .equal("objectClass", "tgSubscriber"),
                                              attributes: ["tgOrgNumber", "mail"], pageSize: 1000)
        var mails: [String: String] = [:]
        for entry in entries { if let org = entry["tgOrgNumber"], let mail = entry["mail"] { mails[org] = mail } }
        return mails
    }

    private func forget(except current: Set<String>) {
        let gone = tracked.withLock { state -> [AgentConnection] in
            let keys = state.keys.filter { !current.contains($0) }
            return keys.compactMap { state.removeValue(forKey: $0)?.connection }
        }
        for connection in gone { Task { await connection.close() } }
    }

    /// The tracker and connection of `converter` (new ones start from its stored health).
    private func entry(for converter: MonitoredConverter) -> Tracked {
        tracked.withLock { state in
            let key = converter.dn.description
            if let existing = state[key], existing.connection.host == converter.address, existing.connection.port == converter.statusPort {
                return existing
            }
            let old = state[key]
            if let old { Task { await old.connection.close() } }
            let value = Tracked(
                tracker: old?.tracker ?? HealthTracker(health: converter.health, limits: .init(downAfter: settings.downAfter, flapLimit: settings.flapLimit, flapWindow: settings.flapWindow)),
                connection: AgentConnection(orgNumber: converter.orgNumber, converter: converter.name, host: converter.address,
                                            port: converter.statusPort, context: tls, timeout: settings.probeTimeout),
                lastSuccess: old?.lastSuccess)
            state[key] = value
            return value
        }
    }

    /// Probes one converter, applies the result, and collects its traffic after success.
    func check(_ converter: MonitoredConverter, mail: String?) async {
        let connection = entry(for: converter).connection
        let began = ContinuousClock.now
        let observation = await probe(converter, over: connection)
        let took = ContinuousClock.now - began
        metrics.probeDuration.recordNanoseconds(took.components.seconds * 1_000_000_000 + took.components.attoseconds / 1_000_000_000)
        let now = Date()
        let (outcome, lastSuccess) = tracked.withLock { state -> (HealthTracker.Outcome, Date?) in
            let key = converter.dn.description
            guard var value = state[key] else { return (HealthTracker.Outcome(), nil) }
            let outcome = value.tracker.observe(observation, at: now)
            if case .answered = observation { value.lastSuccess = now }
            state[key] = value
            return (outcome, value.lastSuccess)
        }
        switch observation {
        case .answered(let health, _): metrics.probe(health)
        case .failed: metrics.probe(nil)
        }
        counts.withLock {
            $0.probes += 1
            if case .failed = observation { $0.failed += 1 }
        }
        if let transition = outcome.transition {
            record(converter, from: transition.from, to: transition.to, reason: transition.reason, lastSeen: lastSuccess, at: now)
        }
        if let message = outcome.mail {
            if let mail {
                do {
                    try await mailer.send(message, to: mail, orgNumber: converter.orgNumber, converter: converter.name, at: now)
                } catch {
                    logger.error("monitor: cannot write the health mail to the spool",
                                 metadata: ["converter": "\(converter.orgNumber)-\(converter.name)", "error": "\(error)"])
                }
            } else {
                logger.warning("monitor: subscriber has no mail address; health mail not sent",
                               metadata: ["converter": "\(converter.orgNumber)-\(converter.name)"])
            }
        }
        guard case .answered = observation else { return }
        do {
            let result = try await collector.collect(converter, over: connection)
            counts.withLock {
                $0.records += result.records
                $0.pages += result.pages
            }
        } catch {
            counts.withLock { $0.collectionErrors += 1 }
            logger.warning("monitor: traffic collection failed; retried next cycle from the stored cursor",
                           metadata: ["converter": "\(converter.orgNumber)-\(converter.name)", "error": "\(error)"])
        }
    }

    /// `GET /v1/status` → what the answer implies.
    func probe(_ converter: MonitoredConverter, over connection: AgentConnection) async -> HealthTracker.Observation {
        let response: AgentResponse
        do {
            response = try await connection.get("/v1/status")
        } catch {
            return .failed(reason: "\(error)")
        }
        guard response.status == 200 else {
            return .failed(reason: "GET /v1/status answered \(response.status)")
        }
        let status: AgentStatus
        do {
            status = try JSONDecoder().decode(AgentStatus.self, from: Data(response.body.readableBytesView))
        } catch {
            return .failed(reason: "GET /v1/status: not the contract's JSON (\(error))")
        }
        if status.health.lowercased() == "degraded" {
            let problems = (status.problems ?? []).joined(separator: "; ")
            return .answered(.degraded, reason: problems.isEmpty ? "the agent reports degraded" : problems)
        }
        let notAfter = AgentRecord.date(status.certificate?.notAfter) ?? converter.certificateNotAfter
        if let notAfter, notAfter.timeIntervalSinceNow < settings.expiryWarningDays * 86_400 {
            return .answered(.expiring, reason: "certificate expires \(AgentRecord.string(notAfter))")
        }
        return .answered(.up, reason: "the agent answers")
    }

    /// Writes the new health (with `tgLastSeen`) and a history event, batched.
    func record(_ converter: MonitoredConverter, from: ConverterHealth, to: ConverterHealth, reason: String, lastSeen: Date?, at now: Date) {
        var modifications: [LDAPModification] = [.replace("tgHealth", [to.rawValue])]
        if let lastSeen { modifications.append(.replace("tgLastSeen", [GeneralizedTime.string(lastSeen)])) }
        writer.enqueue(.modify(converter.dn, modifications))
        let data = HistoryData(from: from.rawValue, to: to.rawValue, reason: reason)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(data)).flatMap { String(data: $0, encoding: .utf8) }
        let event = HistoryEvent(type: to.eventType, orgNumber: converter.orgNumber, converter: converter.name, actor: "monitor",
                                 data: json, time: now)
        let entry = event.entryAttributes.map { ($0.0, $0.1.map { Data($0.utf8) }) }
        writer.enqueue(.add(layout.history(converter.orgNumber).child("tgEventId", event.id), entry))
        logger.info("converter health changed", metadata: ["converter": "\(converter.orgNumber)-\(converter.name)",
                                                           "from": "\(from.rawValue)", "to": "\(to.rawValue)", "reason": "\(reason)"])
    }

    /// `tgEventData` of a health transition.
    struct HistoryData: Codable {
        var from: String
        var to: String
        var reason: String
    }
}
