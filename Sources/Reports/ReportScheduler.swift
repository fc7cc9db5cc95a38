import Directory
import Foundation
import Logging
import ServiceLifecycle

/// Makes the reports of every active subscriber once each period has ended (plus
/// ``settleSeconds`` for the last samples to arrive): for each configured period the last
/// complete one, unless its `tgReport` entry exists (so restarts and several servers send
/// each report once). Checks every ``checkInterval`` seconds; up to ``concurrency`` reports
/// are made at a time.
public struct ReportScheduler: Service {
    public let runner: ReportRunner
    public let periods: [ReportPeriod]
    public let checkInterval: TimeInterval
    public let settleSeconds: TimeInterval
    public let concurrency: Int
    public let logger: Logger

    public init(runner: ReportRunner, periods: [ReportPeriod], checkInterval: TimeInterval = 300, settleSeconds: TimeInterval = 900,
                concurrency: Int = 4, logger: Logger) {
        self.runner = runner
        self.periods = periods
        self.checkInterval = checkInterval
        self.settleSeconds = settleSeconds
        self.concurrency = max(1, concurrency)
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let made = try await pass()
                if made > 0 { logger.info("reports made", metadata: ["count": "\(made)"]) }
            } catch {
                logger.error("report pass failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(checkInterval)) }
        }
    }

    /// One pass over all subscribers and periods; returns the number of reports made.
    public func pass(now: Date = Date()) async throws -> Int {
        let subscribers = try await runner.source.store.subscribers().filter { $0.state == "active" }
        var jobs: [(Subscriber, ReportPeriod, Date)] = []
        for period in periods {
            let start = period.lastComplete(before: now.addingTimeInterval(-settleSeconds))
            for subscriber in subscribers { jobs.append((subscriber, period, start)) }
        }
        let runner = self.runner, logger = self.logger
        return await withTaskGroup(of: Int.self) { group in
            var made = 0
            var next = 0
            func add() {
                guard next < jobs.count else { return }
                let (subscriber, period, start) = jobs[next]
                next += 1
                group.addTask {
                    guard !Task.isShuttingDownGracefully else { return 0 }
                    do {
                        return try await runner.run(subscriber: subscriber, period: period, start: start, replace: false, now: now).created ? 1 : 0
                    } catch {
                        logger.error("report failed", metadata: ["org": "\(subscriber.orgNumber)", "period": "\(period.rawValue)", "error": "\(error)"])
                        return 0
                    }
                }
            }
            for _ in 0..<concurrency { add() }
            while let result = await group.next() {
                made += result
                add()
            }
            return made
        }
    }

    /// Parses `day,week,month` (any subset); throws naming the bad value.
    public static func parsePeriods(_ text: String) throws(ReportError) -> [ReportPeriod] {
        if text == "off" || text == "none" || text.isEmpty { return [] }
        var result: [ReportPeriod] = []
        for part in text.split(separator: ",") {
            let period = try ReportPeriod.parse(part.trimmingCharacters(in: .whitespaces))
            if !result.contains(period) { result.append(period) }
        }
        return result
    }
}
