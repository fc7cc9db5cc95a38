import Directory
import Foundation
import LDAPClient

/// Reads what a report needs from the directory: the subscriber, its converters, the
/// traffic samples of the period and of the baseline periods before it, and the
/// `converter.*` health events up to the period's end.
///
/// Week and month reports read the daily roll-ups (with their hourly profile) and only
/// for days without one the hourly and 5-minute samples (e.g. the days not rolled up
/// yet); the baseline periods are read with byte counts only. Day reports read 5-minute
/// and hourly samples. See docs/reports.md.
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
        do {
            async let converters = store.converters(orgNumber: org)
            async let samples = reportSamples(orgNumber: org, period: period, start: start)
            async let events = healthEvents(orgNumber: org, before: end)
            return ReportAnalysis.compute(orgNumber: org, organisation: subscriber.name, period: period, start: start,
                                          converters: try await converters.map(\.name), samples: try await samples,
                                          events: try await events)
        } catch {
            throw .directory("\(error)")
        }
    }

    /// The samples ``ReportAnalysis/compute(orgNumber:organisation:period:start:converters:samples:events:)``
    /// needs for `period` starting at `start` and its baseline periods before it.
    ///
    /// Day: the 5-minute and hourly samples. Week and month: the daily roll-ups of the
    /// period (all figures and the hourly profile) and of the baseline periods (bytes
    /// only), then the 5-minute and hourly samples of the days that have no daily roll-up
    /// of any converter, again with bytes only for the baseline.
    public func reportSamples(orgNumber: String, period: ReportPeriod, start: Date) async throws -> [TrafficSample] {
        let end = period.end(from: start)
        let baselineStart = period.advance(start, by: -ReportAnalysis.baselinePeriods)
        guard period != .day else { return try await samples(orgNumber: orgNumber, from: baselineStart, to: end) }
        async let current = samples(orgNumber: orgNumber, intervals: [86_400], ranges: [(start, end)], attributes: Self.dailyAttributes)
        async let earlier = samples(orgNumber: orgNumber, intervals: [86_400], ranges: [(baselineStart, start)],
                                    attributes: Self.baselineAttributes)
        let (daily, baselineDaily) = try await (current, earlier)
        let missing = Self.daysWithout(daily, from: start, to: end)
        let missingBaseline = Self.daysWithout(baselineDaily, from: baselineStart, to: start)
        async let fine = missing.isEmpty ? [] : samples(orgNumber: orgNumber, intervals: [300, 3600], ranges: missing,
                                                        attributes: Self.sampleAttributes)
        async let baselineFine = missingBaseline.isEmpty ? [] : samples(orgNumber: orgNumber, intervals: [300, 3600], ranges: missingBaseline,
                                                                        attributes: Self.baselineAttributes)
        return try await daily + baselineDaily + fine + baselineFine
    }

    /// 5-minute and hourly samples of the tenant starting in `[from, to)`.
    public func samples(orgNumber: String, from: Date, to: Date) async throws -> [TrafficSample] {
        try await samples(orgNumber: orgNumber, intervals: [300, 3600], ranges: [(from, to)], attributes: Self.sampleAttributes)
    }

    /// The tenant's samples of `intervals` starting in any of `ranges` (`[from, to)` each),
    /// reading only `attributes`.
    func samples(orgNumber: String, intervals: [Int], ranges: [(Date, Date)], attributes: [String]) async throws -> [TrafficSample] {
        let times: [LDAPFilter] = ranges.map { range in
            .and([.greaterOrEqual("tgSampleStart", GeneralizedTime.string(range.0)),
                  .not(.greaterOrEqual("tgSampleStart", GeneralizedTime.string(range.1)))])
        }
        let kinds: [LDAPFilter] = intervals.map { .equal("tgSampleInterval", String($0)) }
        let filter = LDAPFilter.and([
            kinds.count == 1 ? kinds[0] : .or(kinds),
            .equal("objectClass", "tgTrafficSample"),
            times.count == 1 ? times[0] : .or(times),
        ])
        do {
            return try await search(base: store.layout.traffic(orgNumber), filter: filter, attributes: attributes)
                .compactMap(SampleDecoder.sample)
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        }
    }

    /// A one-level search without the paged-results control, repeated with it only when the
    /// server's size limit cuts the answer short. back_mdb (2.5) answers a paged one-level
    /// search by walking the candidates of the whole database (all `tgTrafficSample`
    /// entries, not the tenant's): 70 ms of slapd CPU instead of 4 ms per search with 200
    /// clients' samples loaded, growing with the directory (docs/reports.md). Tollgate's
    /// service DN has no size limit, so the second search is for other bind identities.
    func search(base: DistinguishedName, filter: LDAPFilter, attributes: [String]?) async throws -> [LDAPEntry] {
        do {
            return try await store.client.search(base: base, scope: .oneLevel, filter: filter, attributes: attributes)
        } catch let error as LDAPError where error.code == .sizeLimitExceeded || error.code == .adminLimitExceeded {
            return try await store.client.search(base: base, scope: .oneLevel, filter: filter, attributes: attributes, pageSize: 1000)
        }
    }

    /// The days (UTC) of `[from, to)` on which none of `daily` starts, as ranges of
    /// consecutive days.
    static func daysWithout(_ daily: [TrafficSample], from: Date, to: Date) -> [(Date, Date)] {
        let covered = Set(daily.map(\.start))
        var ranges: [(Date, Date)] = []
        var day = TrafficSample.align(from, interval: 86_400)
        while day < to {
            let next = day.addingTimeInterval(86_400)
            if !covered.contains(day) {
                let lower = max(day, from), upper = min(next, to)
                if let last = ranges.last, last.1 == lower {
                    ranges[ranges.count - 1].1 = upper
                } else {
                    ranges.append((lower, upper))
                }
            }
            day = next
        }
        return ranges
    }

    /// What a report reads of a 5-minute or hourly sample (not `cn` and `objectClass`:
    /// less for slapd to send).
    static let sampleAttributes = ["tgOrgNumber", "tgConverterId", "tgSampleStart", "tgSampleInterval", "tgBytesIn", "tgBytesOut",
                                   "tgPacketsIn", "tgPacketsOut", "tgPeakBytes", "tgAllowedAttempts", "tgDeniedAttempts", "tgEventData"]
    /// Of a daily roll-up of the period: the above and the hourly profile.
    static let dailyAttributes = sampleAttributes + ["tgHourlyBytes", "tgHourlyPeakBytes"]
    /// Of a baseline sample: only what the byte count needs.
    static let baselineAttributes = ["tgOrgNumber", "tgConverterId", "tgSampleStart", "tgSampleInterval", "tgBytesIn", "tgBytesOut"]

    /// The tenant's `converter.*` events before `end`, oldest first.
    public func healthEvents(orgNumber: String, before end: Date) async throws -> [HistoryEvent] {
        let filter = LDAPFilter.and([
            .equal("objectClass", "tgHistoryEvent"),
            .substring("tgEventType", initial: "converter.", any: [], final: nil),
            .not(.greaterOrEqual("tgEventTime", GeneralizedTime.string(end))),
        ])
        do {
            return try await search(base: store.layout.history(orgNumber), filter: filter, attributes: nil)
                .compactMap { try? HistoryEvent(entry: $0) }
                .filter { ["converter.down", "converter.up", "converter.degraded", "converter.expiring"].contains($0.type) }
                .sorted { $0.time == $1.time ? $0.id < $1.id : $0.time < $1.time }
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        }
    }
}
