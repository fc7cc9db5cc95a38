import Directory
import Foundation
import LDAPClient

/// Reads what a report needs from the directory: the subscriber, its converters, the
/// traffic samples of the period and of the baseline periods before it, and the
/// `converter.*` health events up to the period's end.
public struct ReportSource: Sendable {
    public let store: DirectoryStore

    public init(store: DirectoryStore) { self.store = store }

    /// The analysis of `orgNumber`'s `period` starting at `start`.
    public func analysis(orgNumber: String, period: ReportPeriod, start: Date) async throws(ReportError) -> ReportAnalysis {
        let subscriber = try await subscriber(orgNumber)
        return try await analysis(subscriber: subscriber, period: period, start: start)
    }

    /// The subscriber, or ``ReportError/notFound(_:)``.
    public func subscriber(_ orgNumber: String) async throws(ReportError) -> Subscriber {
        guard ReportLink.isOrgNumber(orgNumber) else {
            throw .badRequest("\"\(orgNumber.prefix(40))\" is not an organisation number (1 to 12 digits, no leading zero)")
        }
        let found: Subscriber?
        do {
            found = try await store.subscriber(orgNumber)
        } catch {
            throw .directory("\(error)")
        }
        guard let found else { throw .notFound("subscriber \(orgNumber)") }
        return found
    }

    /// The analysis for a subscriber already read.
    public func analysis(subscriber: Subscriber, period: ReportPeriod, start: Date) async throws(ReportError) -> ReportAnalysis {
        let org = subscriber.orgNumber
        let end = period.end(from: start)
        let baselineStart = period.advance(start, by: -ReportAnalysis.baselinePeriods)
        do {
            async let converters = store.converters(orgNumber: org)
            async let samples = samples(orgNumber: org, from: baselineStart, to: end)
            async let events = healthEvents(orgNumber: org, before: end)
            return ReportAnalysis.compute(orgNumber: org, organisation: subscriber.name, period: period, start: start,
                                          converters: try await converters.map(\.name), samples: try await samples,
                                          events: try await events)
        } catch {
            throw .directory("\(error)")
        }
    }

    /// 5-minute and hourly samples of the tenant starting in `[from, to)`.
    public func samples(orgNumber: String, from: Date, to: Date) async throws -> [TrafficSample] {
        let filter = LDAPFilter.and([
            .equal("objectClass", "tgTrafficSample"),
            .greaterOrEqual("tgSampleStart", GeneralizedTime.string(from)),
            .not(.greaterOrEqual("tgSampleStart", GeneralizedTime.string(to))),
            .or([.equal("tgSampleInterval", "300"), .equal("tgSampleInterval", "3600")]),
        ])
        do {
            return try await store.client.search(base: store.layout.traffic(orgNumber), scope: .oneLevel, filter: filter,
                                                 attributes: Self.sampleAttributes, pageSize: 1000)
                .compactMap(SampleDecoder.sample)
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        }
    }

    /// What a report reads of a sample (not `cn` and `objectClass`: less for slapd to send).
    static let sampleAttributes = ["tgOrgNumber", "tgConverterId", "tgSampleStart", "tgSampleInterval", "tgBytesIn", "tgBytesOut",
                                   "tgPacketsIn", "tgPacketsOut", "tgPeakBytes", "tgAllowedAttempts", "tgDeniedAttempts", "tgEventData"]

    /// The tenant's `converter.*` events before `end`, oldest first.
    public func healthEvents(orgNumber: String, before end: Date) async throws -> [HistoryEvent] {
        let filter = LDAPFilter.and([
            .equal("objectClass", "tgHistoryEvent"),
            .substring("tgEventType", initial: "converter.", any: [], final: nil),
            .not(.greaterOrEqual("tgEventTime", GeneralizedTime.string(end))),
        ])
        do {
            return try await store.client.search(base: store.layout.history(orgNumber), scope: .oneLevel, filter: filter, pageSize: 1000)
                .compactMap { try? HistoryEvent(entry: $0) }
                .filter { ["converter.down", "converter.up", "converter.degraded", "converter.expiring"].contains($0.type) }
                .sorted { $0.time == $1.time ? $0.id < $1.id : $0.time < $1.time }
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        }
    }
}
