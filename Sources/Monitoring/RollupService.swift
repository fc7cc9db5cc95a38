import Directory
import Foundation
import LDAPClient
import Logging
import ServiceLifecycle

/// Rolls 5-minute samples up into hourly ones once the hour is complete, hourly into
/// daily once the day is, and deletes samples past their retention: at start and then
/// every ``MonitorSettings/rollupInterval`` seconds. Idempotent: an existing roll-up is
/// not duplicated (an unchanged one is left alone, one that late records changed is
/// replaced), so passes may overlap restarts freely.
public struct RollupService: Service {
    public let settings: MonitorSettings
    let client: LDAPClient
    let layout: DirectoryLayout
    let logger: Logger

    public init(settings: MonitorSettings, client: LDAPClient, layout: DirectoryLayout, logger: Logger) {
        self.settings = settings
        self.client = client
        self.layout = layout
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let summary = try await pass(now: Date())
                if summary.written + summary.deleted > 0 {
                    logger.info("traffic roll-up", metadata: ["written": "\(summary.written)", "deleted": "\(summary.deleted)"])
                }
            } catch {
                logger.warning("traffic roll-up failed; retried next pass", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(Int64(settings.rollupInterval * 1000)))
            }
        }
    }

    /// One pass: hourly, daily, then retention. Returns the writes and deletions made.
    public func pass(now: Date) async throws -> (written: Int, deleted: Int) {
        var written = 0
        written += try await rollUp(from: 300, into: 3600, lookBack: settings.retain5m, now: now)
        written += try await rollUp(from: 3600, into: 86_400, lookBack: settings.retainHourly, now: now)
        var deleted = 0
        for (interval, keep) in [(300, settings.retain5m), (3600, settings.retainHourly), (86_400, settings.retainDaily)] {
            deleted += try await expire(interval: interval, before: now.addingTimeInterval(-keep))
        }
        return (written, deleted)
    }

    private func samples(interval: Int, from: Date, before: Date) async throws -> [TrafficSample] {
        let filter: LDAPFilter = .and([.equal("objectClass", "tgTrafficSample"), .equal("tgSampleInterval", String(interval)),
                                       .greaterOrEqual("tgSampleStart", GeneralizedTime.string(from)),
                                       .not(.greaterOrEqual("tgSampleStart", GeneralizedTime.string(before)))])
        let entries = try await client.search(base: layout.subscribers, scope: .subtree, filter: filter, pageSize: 1000)
        return entries.compactMap { try? TrafficSample(entry: $0) }
    }

    private func rollUp(from source: Int, into interval: Int, lookBack: Double, now: Date) async throws -> Int {
        let from = TrafficSample.align(now.addingTimeInterval(-lookBack), interval: interval)
        let until = TrafficSample.align(now, interval: interval)
        guard from < until else { return 0 }
        let sources = try await samples(interval: source, from: from, before: until)
        if sources.isEmpty { return 0 }
        let existing = try await samples(interval: interval, from: from, before: until)
        let changes = RollupPlanner.plan(sources: sources, existing: existing, interval: interval, now: now)
        var writes: [LDAPWrite] = []
        for change in changes {
            switch change {
            case .add(let sample):
                writes.append(.add(layout.trafficSample(sample.orgNumber, sample.rdnValue),
                                   sample.entryAttributes.map { ($0.0, $0.1.map { Data($0.utf8) }) }))
            case .replace(let sample):
                writes.append(.modify(layout.trafficSample(sample.orgNumber, sample.rdnValue),
                                      sample.attributes.filter { $0.0 != "cn" && !$0.1.isEmpty }.map { LDAPModification.replace($0.0, $0.1) }))
            }
        }
        try await apply(writes)
        return writes.count
    }

    private func expire(interval: Int, before: Date) async throws -> Int {
        let filter: LDAPFilter = .and([.equal("objectClass", "tgTrafficSample"), .equal("tgSampleInterval", String(interval)),
                                       .not(.greaterOrEqual("tgSampleStart", GeneralizedTime.string(before)))])
        let entries = try await client.search(base: layout.subscribers, scope: .subtree, filter: filter, attributes: ["1.1"], pageSize: 1000)
        try await apply(entries.map { .delete($0.dn) })
        return entries.count
    }

    /// Groups of 200 in one transaction each; a failed group is applied one by one (an
    /// add that finds its entry, a delete that misses it, count as done).
    private func apply(_ writes: [LDAPWrite]) async throws {
        var index = 0
        while index < writes.count {
            let group = Array(writes[index..<min(writes.count, index + 200)])
            index += group.count
            do {
                try await client.transaction(group)
            } catch {
                for write in group {
                    do {
                        try await client.apply(write)
                    } catch let error as LDAPError where error.code == .entryAlreadyExists || error.code == .noSuchObject {
                        continue
                    }
                }
            }
        }
    }
}
