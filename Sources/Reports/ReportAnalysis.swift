import Directory
import Foundation

/// The figures of one client's report for one period `[start, end)`: per converter and in
/// total, computed from traffic samples and `converter.*` health events (docs/reports.md
/// says how each number is computed).
///
/// - Traffic: week and month reports (and every baseline) use, for each day, its daily
///   roll-up when there is one (its 24-hour profile fills the hourly slots), else for
///   every hour of that day the hourly sample, else that hour's 5-minute samples. A day
///   report prefers the 5-minute samples, falls back to the hourly one and does not use
///   daily roll-ups. So a roll-up and the samples it was made of are never counted twice,
///   and the figures are the same whichever of them a day is read from.
/// - Throughput series: slots of ``ReportPeriod/slotSeconds`` (5 minutes for a day, an hour
///   otherwise); slots without a sample count as 0. An hourly sample in a day report fills
///   its twelve 5-minute slots with its mean rate. A daily roll-up without a profile
///   (written before profiles existed) fills its 24 hourly slots with its mean rate.
/// - Peak: the largest `tgPeakBytes` (bytes of the busiest 5 minutes) / 300 s. The total's
///   peak adds the converters' peaks slot by slot (exact with 5-minute samples, an upper
///   bound with hourly ones).
/// - 95th percentile: nearest rank over the slot throughputs (bytes / slot length).
/// - Availability: 1 − (time in `down`) / period length from the health events.
/// - Anomaly: this period's bytes against the previous four periods (see ``Anomaly``).
public struct ReportAnalysis: Sendable, Codable, Equatable {
    /// Traffic figures of one converter or of the total.
    public struct Figures: Sendable, Codable, Equatable {
        public var name: String
        public var bytesIn: Int64 = 0
        public var bytesOut: Int64 = 0
        public var packetsIn: Int64 = 0
        public var packetsOut: Int64 = 0
        public var allowedAttempts: Int = 0
        public var deniedAttempts: Int = 0
        /// Bytes per second in the busiest 5 minutes.
        public var peakBytesPerSecond: Double = 0
        /// 95th percentile of the slot throughputs, bytes per second.
        public var p95BytesPerSecond: Double = 0
        /// 0…1; nil for the total when there are no converters.
        public var availability: Double?
        /// Seconds in `down` within the period.
        public var downSeconds: Double = 0
        /// `[from, to)` offsets in seconds from the period start where the converter was down.
        public var downIntervals: [[Double]] = []
        /// Bytes (in + out) per slot, in time order.
        public var series: [Double] = []

        public var bytes: Int64 { bytesIn + bytesOut }
        public var packets: Int64 { packetsIn + packetsOut }

        public init(name: String) { self.name = name }
    }

    /// A destination with its traffic (or refusal count).
    public struct DestinationFigure: Sendable, Codable, Equatable {
        public var destination: String
        public var bytesIn: Int64
        public var bytesOut: Int64
        public var denied: Int
        public var bytes: Int64 { bytesIn + bytesOut }
    }

    /// The comparison with the client's own history.
    ///
    /// Baseline: bytes of each of the previous four periods of the same kind that have any
    /// sample (periods without samples are left out); at least two are needed. Flagged when
    /// |x − mean| > 3 σ (population standard deviation, σ > 0) or when x differs from the
    /// mean by more than 50 %.
    public struct Anomaly: Sendable, Codable, Equatable {
        public var subject: String
        public var value: Double
        /// nil: no baseline (fewer than two earlier periods with data).
        public var baselineMean: Double?
        public var baselineStandardDeviation: Double?
        public var baselinePeriods: Int
        public var flagged: Bool
        public var explanation: String
    }

    public var orgNumber: String
    public var organisation: String
    public var period: ReportPeriod
    public var start: Date
    public var end: Date
    public var slotSeconds: Int
    public var converters: [Figures]
    public var total: Figures
    public var topDestinations: [DestinationFigure]
    public var topDenied: [DestinationFigure]
    public var anomalies: [Anomaly]
    /// How many samples the figures come from.
    public var sampleCount: Int

    /// How many destinations the tops list.
    public static let topCount = 10
    /// Earlier periods in the baseline.
    public static let baselinePeriods = 4

    // MARK: - Computation

    /// Computes the report from `samples` (any intervals, may reach back to the baseline
    /// periods) and `events` (the tenant's `converter.*` events, any time before `end`).
    /// `converters` are the converters to show even without samples.
    public static func compute(orgNumber: String, organisation: String, period: ReportPeriod, start: Date,
                               converters knownConverters: [String], samples: [TrafficSample],
                               events: [HistoryEvent]) -> ReportAnalysis {
        let end = period.end(from: start)
        let slot = period.slotSeconds
        let slotCount = max(1, Int(end.timeIntervalSince(start)) / slot)
        let names = Set(knownConverters).union(samples.map(\.converter)).union(events.compactMap(\.converter))
            .sorted()
        var bySlotPeak: [[Double]] = []
        var figures: [Figures] = []
        var destinations: [String: TrafficSample.Counters] = [:]
        var denied: [String: Int] = [:]
        var used = 0
        let byConverter = Dictionary(grouping: samples, by: \.converter)
        for name in names {
            let chosen = select(byConverter[name] ?? [], from: start, to: end, preferFine: period == .day)
            used += chosen.count
            var f = Figures(name: name)
            var series = [Double](repeating: 0, count: slotCount)
            var peaks = [Double](repeating: 0, count: slotCount)
            for sample in chosen {
                f.bytesIn += sample.totals.bytesIn
                f.bytesOut += sample.totals.bytesOut
                f.packetsIn += sample.totals.packetsIn
                f.packetsOut += sample.totals.packetsOut
                f.allowedAttempts += sample.allowedAttempts
                f.deniedAttempts += sample.deniedAttempts
                f.peakBytesPerSecond = max(f.peakBytesPerSecond, Double(sample.peakBytes) / 300)
                destinations.merge(sample.breakdown.destinations, uniquingKeysWith: +)
                denied.merge(sample.breakdown.denied, uniquingKeysWith: +)
                // Spread the sample over the slots it covers (a daily one hour by hour from its profile).
                let offset = Int(sample.start.timeIntervalSince(start))
                if sample.hasProfile, let hourly = sample.hourlyBytes, let hourlyPeaks = sample.hourlyPeakBytes {
                    for hour in 0..<TrafficSample.profileHours {
                        spread(bytes: Double(hourly[hour]), peak: Double(hourlyPeaks[hour]), offset: offset + hour * 3600,
                               length: 3600, slot: slot, into: &series, peaks: &peaks)
                    }
                } else {
                    spread(bytes: Double(sample.totals.bytesIn + sample.totals.bytesOut), peak: Double(sample.peakBytes),
                           offset: offset, length: sample.interval, slot: slot, into: &series, peaks: &peaks)
                }
            }
            f.series = series
            f.p95BytesPerSecond = percentile95(series.map { $0 / Double(slot) })
            let down = downIntervals(converter: name, events: events, start: start, end: end)
            f.downIntervals = down.map { [$0.lowerBound, $0.upperBound] }
            f.downSeconds = down.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) }
            f.availability = 1 - f.downSeconds / end.timeIntervalSince(start)
            figures.append(f)
            bySlotPeak.append(peaks)
        }
        var total = Figures(name: "Total")
        total.series = [Double](repeating: 0, count: slotCount)
        for f in figures {
            total.bytesIn += f.bytesIn
            total.bytesOut += f.bytesOut
            total.packetsIn += f.packetsIn
            total.packetsOut += f.packetsOut
            total.allowedAttempts += f.allowedAttempts
            total.deniedAttempts += f.deniedAttempts
            total.downSeconds += f.downSeconds
            for i in 0..<slotCount { total.series[i] += f.series[i] }
        }
        var totalPeaks = [Double](repeating: 0, count: slotCount)
        for peaks in bySlotPeak { for i in 0..<slotCount { totalPeaks[i] += peaks[i] } }
        total.peakBytesPerSecond = (totalPeaks.max() ?? 0) / 300
        total.p95BytesPerSecond = percentile95(total.series.map { $0 / Double(slot) })
        total.availability = figures.isEmpty ? nil : figures.compactMap(\.availability).reduce(0, +) / Double(figures.count)

        let top = destinations.map { DestinationFigure(destination: $0.key, bytesIn: $0.value.bytesIn, bytesOut: $0.value.bytesOut, denied: denied[$0.key] ?? 0) }
            .sorted { $0.bytes == $1.bytes ? $0.destination < $1.destination : $0.bytes > $1.bytes }
        let topDenied = denied.map { DestinationFigure(destination: $0.key, bytesIn: 0, bytesOut: 0, denied: $0.value) }
            .sorted { $0.denied == $1.denied ? $0.destination < $1.destination : $0.denied > $1.denied }

        // Baseline: the previous periods' bytes per converter and in total.
        var anomalies: [Anomaly] = []
        var baselineTotals: [Double?] = []
        var baselinePerConverter: [String: [Double?]] = [:]
        for k in 1...baselinePeriods {
            let s = period.advance(start, by: -k), e = period.advance(start, by: -k + 1)
            var sum: Double = 0
            var any = false
            for name in names {
                let chosen = select(byConverter[name] ?? [], from: s, to: e, preferFine: false)
                let bytes = Double(chosen.reduce(Int64(0)) { $0 + $1.totals.bytesIn + $1.totals.bytesOut })
                baselinePerConverter[name, default: []].append(chosen.isEmpty ? nil : bytes)
                if !chosen.isEmpty { any = true; sum += bytes }
            }
            baselineTotals.append(any ? sum : nil)
        }
        anomalies.append(anomaly(subject: "Total bytes", value: Double(total.bytes), baseline: baselineTotals.compactMap { $0 }))
        for f in figures {
            anomalies.append(anomaly(subject: "Bytes of \(f.name)", value: Double(f.bytes),
                                     baseline: (baselinePerConverter[f.name] ?? []).compactMap { $0 }))
        }
        return ReportAnalysis(orgNumber: orgNumber, organisation: organisation, period: period, start: start, end: end,
                              slotSeconds: slot, converters: figures, total: total,
                              topDestinations: Array(top.prefix(topCount)), topDenied: Array(topDenied.prefix(topCount)),
                              anomalies: anomalies, sampleCount: used)
    }

    /// Adds `bytes` covering `length` seconds from `offset` (seconds from the period start)
    /// to the slots it covers, evenly, and `peak` to each of those slots' peaks.
    static func spread(bytes: Double, peak: Double, offset: Int, length: Int, slot: Int,
                       into series: inout [Double], peaks: inout [Double]) {
        let covered = max(1, length / slot)
        for k in 0..<covered {
            let position = offset + k * slot
            guard position >= 0 else { continue }
            let index = position / slot
            guard index < series.count else { continue }
            series[index] += bytes / Double(covered)
            peaks[index] = max(peaks[index], peak)
        }
    }

    /// The samples of one converter that cover `[from, to)` without overlap: per day its
    /// daily roll-up (not with `preferFine`), else per hour the hourly sample, else that
    /// hour's 5-minute samples (`preferFine`: 5-minute before hourly).
    static func select(_ samples: [TrafficSample], from: Date, to: Date, preferFine: Bool) -> [TrafficSample] {
        var fine: [Date: [TrafficSample]] = [:]
        var hourly: [Date: TrafficSample] = [:]
        var daily: [Date: TrafficSample] = [:]
        if !preferFine {
            for sample in samples where sample.interval == 86_400 && sample.start >= from && sample.start < to {
                daily[sample.start] = sample
            }
        }
        for sample in samples where sample.start >= from && sample.start < to {
            guard sample.interval == 300 || sample.interval == 3600,
                  daily[TrafficSample.align(sample.start, interval: 86_400)] == nil else { continue }
            switch sample.interval {
            case 300: fine[TrafficSample.align(sample.start, interval: 3600), default: []].append(sample)
            default: hourly[sample.start] = sample
            }
        }
        var chosen: [TrafficSample] = daily.keys.sorted().compactMap { daily[$0] }
        for hour in Set(fine.keys).union(hourly.keys).sorted() {
            if preferFine, let f = fine[hour] {
                chosen += f
            } else if let h = hourly[hour] {
                chosen.append(h)
            } else if let f = fine[hour] {
                chosen += f
            }
        }
        return chosen
    }

    /// Nearest-rank 95th percentile (0 for no values).
    public static func percentile95(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((0.95 * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }

    /// The health state an event leads to: `to` of its data, else the type's suffix.
    static func state(after event: HistoryEvent) -> String {
        if let data = event.data?.data(using: .utf8),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let to = object["to"] as? String {
            return to
        }
        return String(event.type.dropFirst("converter.".count))
    }

    /// The intervals (offsets from `start`) in which `converter` was down.
    static func downIntervals(converter: String, events: [HistoryEvent], start: Date, end: Date) -> [Range<Double>] {
        let mine = events.filter { $0.converter == converter && $0.type.hasPrefix("converter.") && $0.time < end }
            .sorted { $0.time == $1.time ? $0.id < $1.id : $0.time < $1.time }
        var state = mine.last { $0.time < start }.map { Self.state(after: $0) } ?? "up"
        var since = start
        var result: [Range<Double>] = []
        for event in mine where event.time >= start {
            let next = Self.state(after: event)
            if state == "down", next != "down", event.time > since {
                result.append(since.timeIntervalSince(start)..<event.time.timeIntervalSince(start))
            }
            if next == "down", state != "down" { since = event.time }
            state = next
        }
        if state == "down", end > since { result.append(since.timeIntervalSince(start)..<end.timeIntervalSince(start)) }
        return result
    }

    static func anomaly(subject: String, value: Double, baseline: [Double]) -> Anomaly {
        guard baseline.count >= 2 else {
            return Anomaly(subject: subject, value: value, baselineMean: nil, baselineStandardDeviation: nil,
                           baselinePeriods: baseline.count, flagged: false,
                           explanation: "no baseline: \(baseline.count) of the previous \(baselinePeriods) periods have data (2 needed)")
        }
        let mean = baseline.reduce(0, +) / Double(baseline.count)
        let variance = baseline.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(baseline.count)
        let sigma = variance.squareRoot()
        let deviation = value - mean
        let beyondSigma = sigma > 0 && abs(deviation) > 3 * sigma
        let beyondRatio = mean > 0 ? abs(deviation) > 0.5 * mean : value > 0
        let flagged = beyondSigma || beyondRatio
        let change = mean > 0 ? String(format: "%+.0f %%", deviation / mean * 100) : "from nothing"
        let sigmas = sigma > 0 ? String(format: "%.1f σ", abs(deviation) / sigma) : "σ = 0"
        let explanation = flagged
            ? "unusual: \(change) against the mean of the previous \(baseline.count) periods (\(sigmas))"
            : "normal: \(change) against the mean of the previous \(baseline.count) periods (\(sigmas))"
        return Anomaly(subject: subject, value: value, baselineMean: mean, baselineStandardDeviation: sigma,
                       baselinePeriods: baseline.count, flagged: flagged, explanation: explanation)
    }
}
