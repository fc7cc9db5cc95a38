import Foundation
import LDAPClient

/// Traffic of one converter over one interval (store 221): a `tgTrafficSample` at
/// `cn=<converter>.<interval>.<start>,ou=traffic,tgOrgNumber=N,…`.
///
/// Collection writes 5-minute samples (`interval` 300); roll-ups merge them into hourly
/// (3600) and daily (86400) samples. Byte and packet counts are totals over the interval;
/// ``peakBytes`` keeps the largest 5-minute volume inside it, so peak and 95th-percentile
/// throughput survive a roll-up. The per-destination split is JSON in `tgEventData`.
/// Daily samples also keep an hourly profile (``hourlyBytes``, ``hourlyPeakBytes``), so a
/// month or week report can draw its hourly chart and 95th percentile from the daily
/// samples alone, after the hourly ones expired.
public struct TrafficSample: DirectoryObject, Hashable {
    /// The intervals Tollgate stores, in seconds.
    public static let intervals = [300, 3600, 86400]

    /// Per-destination counters within a sample.
    public struct Counters: Codable, Sendable, Hashable {
        public var bytesIn: Int64
        public var bytesOut: Int64
        public var packetsIn: Int64
        public var packetsOut: Int64

        public init(bytesIn: Int64 = 0, bytesOut: Int64 = 0, packetsIn: Int64 = 0, packetsOut: Int64 = 0) {
            self.bytesIn = bytesIn
            self.bytesOut = bytesOut
            self.packetsIn = packetsIn
            self.packetsOut = packetsOut
        }

        public static func + (a: Counters, b: Counters) -> Counters {
            Counters(bytesIn: a.bytesIn + b.bytesIn, bytesOut: a.bytesOut + b.bytesOut,
                     packetsIn: a.packetsIn + b.packetsIn, packetsOut: a.packetsOut + b.packetsOut)
        }
    }

    /// The JSON of `tgEventData`: traffic per destination (CIDR or name as the agent
    /// reported it) and refused attempts per destination.
    public struct Breakdown: Codable, Sendable, Hashable {
        public var destinations: [String: Counters]
        public var denied: [String: Int]

        public init(destinations: [String: Counters] = [:], denied: [String: Int] = [:]) {
            self.destinations = destinations
            self.denied = denied
        }
    }

    public var orgNumber: String
    /// The converter's name (`cn` of its entry), e.g. `conv-a`.
    public var converter: String
    /// Start of the interval, aligned to `interval`.
    public var start: Date
    /// Length in seconds: 300, 3600 or 86400.
    public var interval: Int
    public var totals: Counters
    /// Largest bytes in + out of one 5-minute sample inside this one.
    public var peakBytes: Int64
    public var allowedAttempts: Int
    public var deniedAttempts: Int
    public var breakdown: Breakdown
    /// Daily samples only: bytes in + out of each of the day's 24 hours (UTC, hour 00
    /// first; `tgHourlyBytes`). nil for other intervals and for daily samples written
    /// before profiles existed.
    public var hourlyBytes: [Int64]?
    /// Daily samples only: per hour the largest bytes in + out of one 5-minute sample
    /// (the hourly samples' ``peakBytes``; `tgHourlyPeakBytes`). nil like ``hourlyBytes``.
    public var hourlyPeakBytes: [Int64]?

    /// Hours in a daily sample's profile.
    public static let profileHours = 24

    public init(orgNumber: String, converter: String, start: Date, interval: Int, totals: Counters = Counters(),
                peakBytes: Int64? = nil, allowedAttempts: Int = 0, deniedAttempts: Int = 0, breakdown: Breakdown = Breakdown(),
                hourlyBytes: [Int64]? = nil, hourlyPeakBytes: [Int64]? = nil) {
        self.orgNumber = orgNumber
        self.converter = converter
        self.start = start
        self.interval = interval
        self.totals = totals
        self.peakBytes = peakBytes ?? (totals.bytesIn + totals.bytesOut)
        self.allowedAttempts = allowedAttempts
        self.deniedAttempts = deniedAttempts
        self.breakdown = breakdown
        self.hourlyBytes = hourlyBytes
        self.hourlyPeakBytes = hourlyPeakBytes
    }

    /// True when this is a daily sample with a complete hourly profile.
    public var hasProfile: Bool {
        interval == 86_400 && hourlyBytes?.count == Self.profileHours && hourlyPeakBytes?.count == Self.profileHours
    }

    /// The profile encoding of `tgHourlyBytes` / `tgHourlyPeakBytes`: the values as
    /// decimal integers separated by commas (`0,0,1200,…`).
    public static func profileString(_ values: [Int64]) -> String {
        values.map(String.init).joined(separator: ",")
    }

    /// Parses a profile value: exactly ``profileHours`` non-negative decimal integers
    /// separated by commas; nil for anything else.
    public static func profile(_ text: String) -> [Int64]? {
        var values: [Int64] = []
        values.reserveCapacity(profileHours)
        var current: Int64 = 0
        var digits = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ",") {
                guard digits > 0, values.count < profileHours else { return nil }
                values.append(current)
                current = 0
                digits = 0
            } else if byte >= 48 && byte <= 57 {
                let (m, o1) = current.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(byte - 48))
                guard !o1, !o2 else { return nil }
                current = a
                digits += 1
            } else {
                return nil
            }
        }
        guard digits > 0 else { return nil }
        values.append(current)
        return values.count == profileHours ? values : nil
    }

    /// The RDN value `<converter>.<interval>.<start>`: unique per converter and interval,
    /// so writing a sample twice fails with alreadyExists instead of counting twice.
    public var rdnValue: String { Self.rdnValue(converter: converter, interval: interval, start: start) }

    public static func rdnValue(converter: String, interval: Int, start: Date) -> String {
        "\(converter).\(interval).\(GeneralizedTime.string(start))"
    }

    /// `start` rounded down to a multiple of `interval` seconds since the epoch (UTC).
    public static func align(_ date: Date, interval: Int) -> Date {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let step = Int64(interval)
        let floored = seconds >= 0 ? seconds - seconds % step : seconds - ((seconds % step) + step) % step
        return Date(timeIntervalSince1970: TimeInterval(floored))
    }

    public static let objectClasses = ["tgTrafficSample"]

    public init(entry: LDAPEntry) throws {
        orgNumber = try entry.required("tgOrgNumber")
        guard let converter = entry["tgConverterId"].map({ Self.converterName(fromID: $0, org: entry["tgOrgNumber"] ?? "") }) else {
            throw DirectoryError.malformedEntry(entry.dn, "missing tgConverterId")
        }
        self.converter = converter
        guard let start = entry.time("tgSampleStart") else { throw DirectoryError.malformedEntry(entry.dn, "bad tgSampleStart") }
        self.start = start
        guard let interval = entry["tgSampleInterval"].flatMap(Int.init), interval > 0 else {
            throw DirectoryError.malformedEntry(entry.dn, "bad tgSampleInterval")
        }
        self.interval = interval
        func int(_ name: String) -> Int64 { entry[name].flatMap { Int64($0) } ?? 0 }
        totals = Counters(bytesIn: int("tgBytesIn"), bytesOut: int("tgBytesOut"),
                          packetsIn: int("tgPacketsIn"), packetsOut: int("tgPacketsOut"))
        peakBytes = entry["tgPeakBytes"].flatMap { Int64($0) } ?? (totals.bytesIn + totals.bytesOut)
        allowedAttempts = Int(int("tgAllowedAttempts"))
        deniedAttempts = Int(int("tgDeniedAttempts"))
        if let json = entry["tgEventData"], let data = json.data(using: .utf8) {
            breakdown = (try? JSONDecoder().decode(Breakdown.self, from: data)) ?? Breakdown()
        } else {
            breakdown = Breakdown()
        }
        hourlyBytes = entry["tgHourlyBytes"].flatMap(Self.profile)
        hourlyPeakBytes = entry["tgHourlyPeakBytes"].flatMap(Self.profile)
    }

    /// `tgConverterId` is `<org>-<name>`; the name is what follows the org prefix.
    static func converterName(fromID id: String, org: String) -> String {
        let prefix = org + "-"
        return id.hasPrefix(prefix) ? String(id.dropFirst(prefix.count)) : id
    }

    public var attributes: [(String, [String])] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(breakdown)).flatMap { String(data: $0, encoding: .utf8) }
        return [("cn", [rdnValue]), ("tgOrgNumber", [orgNumber]), ("tgConverterId", ["\(orgNumber)-\(converter)"]),
                ("tgSampleStart", [GeneralizedTime.string(start)]), ("tgSampleInterval", [String(interval)]),
                ("tgBytesIn", [String(totals.bytesIn)]), ("tgBytesOut", [String(totals.bytesOut)]),
                ("tgPacketsIn", [String(totals.packetsIn)]), ("tgPacketsOut", [String(totals.packetsOut)]),
                ("tgPeakBytes", [String(peakBytes)]), ("tgAllowedAttempts", [String(allowedAttempts)]),
                ("tgDeniedAttempts", [String(deniedAttempts)]),
                ("tgEventData", breakdown == Breakdown() ? [] : json.map { [$0] } ?? []),
                ("tgHourlyBytes", hourlyBytes.map { [Self.profileString($0)] } ?? []),
                ("tgHourlyPeakBytes", hourlyPeakBytes.map { [Self.profileString($0)] } ?? [])]
    }

    public func validate() throws {
        try Validate.orgNumber(orgNumber, field: "sample.orgNumber")
        try Validate.text(converter, field: "sample.converter", maxLength: 64)
        guard Self.intervals.contains(interval) else {
            throw InvalidFieldError(field: "sample.interval", message: "\(interval) s is not one of 300, 3600, 86400")
        }
        guard Self.align(start, interval: interval) == start else {
            throw InvalidFieldError(field: "sample.start", message: "\(GeneralizedTime.string(start)) is not aligned to \(interval) s")
        }
        for value in [totals.bytesIn, totals.bytesOut, totals.packetsIn, totals.packetsOut, peakBytes] where value < 0 {
            throw InvalidFieldError(field: "sample.totals", message: "counters cannot be negative (\(value))")
        }
        guard allowedAttempts >= 0, deniedAttempts >= 0 else {
            throw InvalidFieldError(field: "sample.attempts", message: "attempt counts cannot be negative")
        }
        for profile in [hourlyBytes, hourlyPeakBytes] {
            guard let profile else { continue }
            guard interval == 86_400, profile.count == Self.profileHours, profile.allSatisfy({ $0 >= 0 }) else {
                throw InvalidFieldError(field: "sample.hourlyProfile",
                                        message: "an hourly profile belongs to daily samples only and has 24 non-negative values")
            }
        }
    }

    /// Merges 5-minute (or hourly) samples of one converter into one sample of `interval`
    /// starting at `start`: totals and attempts add up, the peak is the largest peak. A
    /// daily result (`interval` 86400) also gets the hourly profile: per hour of the day
    /// the sources' bytes in + out added up and their largest ``peakBytes`` (a daily
    /// source adds its own profile; one without a profile leaves the result without).
    public static func rollUp(_ samples: [TrafficSample], orgNumber: String, converter: String, start: Date, interval: Int) -> TrafficSample {
        var result = TrafficSample(orgNumber: orgNumber, converter: converter, start: start, interval: interval, peakBytes: 0)
        for sample in samples {
            result.totals = result.totals + sample.totals
            result.peakBytes = max(result.peakBytes, sample.peakBytes)
            result.allowedAttempts += sample.allowedAttempts
            result.deniedAttempts += sample.deniedAttempts
            result.breakdown.destinations.merge(sample.breakdown.destinations, uniquingKeysWith: +)
            result.breakdown.denied.merge(sample.breakdown.denied, uniquingKeysWith: +)
        }
        if interval == 86_400 { (result.hourlyBytes, result.hourlyPeakBytes) = profile(of: samples, dayStart: start) }
        return result
    }

    /// The hourly profile of a day starting at `dayStart` from `samples` (5-minute, hourly
    /// or daily ones with a profile); (nil, nil) when a daily source has no profile.
    static func profile(of samples: [TrafficSample], dayStart: Date) -> ([Int64]?, [Int64]?) {
        var bytes = [Int64](repeating: 0, count: profileHours)
        var peaks = [Int64](repeating: 0, count: profileHours)
        for sample in samples {
            if sample.interval >= 86_400 {
                guard sample.hasProfile, let b = sample.hourlyBytes, let p = sample.hourlyPeakBytes else { return (nil, nil) }
                for h in 0..<profileHours {
                    bytes[h] += b[h]
                    peaks[h] = max(peaks[h], p[h])
                }
                continue
            }
            let offset = sample.start.timeIntervalSince(dayStart)
            guard offset >= 0 else { continue }
            let hour = Int(offset) / 3600
            guard hour < profileHours else { continue }
            bytes[hour] += sample.totals.bytesIn + sample.totals.bytesOut
            peaks[hour] = max(peaks[hour], sample.peakBytes)
        }
        return (bytes, peaks)
    }
}
