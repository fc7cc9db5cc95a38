import Directory
import Foundation
import LDAPClient

/// Decodes `tgTrafficSample` entries fast: a month report of one client reads thousands of
/// samples, and Foundation's `JSONDecoder` and calendar arithmetic cost tens of
/// microseconds per sample. The GeneralizedTime and the `tgEventData` JSON (objects,
/// strings, integers) are parsed by hand here; anything unusual falls back to
/// ``TrafficSample/init(entry:)``, so the result is the same.
enum SampleDecoder {
    static func sample(_ entry: LDAPEntry) -> TrafficSample? {
        guard let org = entry["tgOrgNumber"], let id = entry["tgConverterId"], let startText = entry["tgSampleStart"],
              let start = time(startText), let interval = entry["tgSampleInterval"].flatMap(Int.init), interval > 0 else {
            return try? TrafficSample(entry: entry)
        }
        func int(_ name: String) -> Int64 { entry[name].flatMap { Int64($0) } ?? 0 }
        let totals = TrafficSample.Counters(bytesIn: int("tgBytesIn"), bytesOut: int("tgBytesOut"),
                                            packetsIn: int("tgPacketsIn"), packetsOut: int("tgPacketsOut"))
        var breakdown = TrafficSample.Breakdown()
        if let data = entry.values("tgEventData").first {
            guard let parsed = Self.breakdown(data) else { return try? TrafficSample(entry: entry) }
            breakdown = parsed
        }
        let prefix = org + "-"
        let converter = id.hasPrefix(prefix) ? String(id.dropFirst(prefix.count)) : id
        return TrafficSample(orgNumber: org, converter: converter, start: start, interval: interval, totals: totals,
                             peakBytes: entry["tgPeakBytes"].flatMap { Int64($0) }, allowedAttempts: Int(int("tgAllowedAttempts")),
                             deniedAttempts: Int(int("tgDeniedAttempts")), breakdown: breakdown,
                             hourlyBytes: entry["tgHourlyBytes"].flatMap(TrafficSample.profile),
                             hourlyPeakBytes: entry["tgHourlyPeakBytes"].flatMap(TrafficSample.profile))
    }

    /// `YYYYMMDDHHMMSSZ` (no fraction) as a UTC date; nil otherwise.
    static func time(_ text: String) -> Date? {
        let u = Array(text.utf8)
        guard u.count == 15, u[14] == UInt8(ascii: "Z") else { return nil }
        var v = [Int](repeating: 0, count: 14)
        for i in 0..<14 {
            guard u[i] >= 48, u[i] <= 57 else { return nil }
            v[i] = Int(u[i] - 48)
        }
        let year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3], month = v[4] * 10 + v[5], day = v[6] * 10 + v[7]
        let hour = v[8] * 10 + v[9], minute = v[10] * 10 + v[11], second = v[12] * 10 + v[13]
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second))
    }

    /// The breakdown JSON, or nil when it is not the expected shape.
    static func breakdown(_ data: Data) -> TrafficSample.Breakdown? {
        data.withUnsafeBytes { raw -> TrafficSample.Breakdown? in
            var parser = Parser(bytes: raw.bindMemory(to: UInt8.self))
            var result = TrafficSample.Breakdown()
            let ok = parser.object { key, parser in
                switch key {
                case "destinations":
                    return parser.object { destination, parser in
                        var counters = TrafficSample.Counters()
                        let ok = parser.object { field, parser in
                            guard let value = parser.integer() else { return false }
                            switch field {
                            case "bytesIn": counters.bytesIn = value
                            case "bytesOut": counters.bytesOut = value
                            case "packetsIn": counters.packetsIn = value
                            case "packetsOut": counters.packetsOut = value
                            default: break
                            }
                            return true
                        }
                        result.destinations[destination, default: .init()] = result.destinations[destination, default: .init()] + counters
                        return ok
                    }
                case "denied":
                    return parser.object { destination, parser in
                        guard let value = parser.integer(), let count = Int(exactly: value) else { return false }
                        result.denied[destination, default: 0] += count
                        return true
                    }
                default:
                    return false
                }
            }
            guard ok else { return nil }
            parser.skipSpace()
            return parser.index == parser.bytes.count ? result : nil
        }
    }

    /// A minimal JSON reader for objects of strings and integers.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func expect(_ byte: UInt8) -> Bool {
            skipSpace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// `{ "key": value, … }`, calling `member` for each key with the parser at its value.
        mutating func object(_ member: (String, inout Parser) -> Bool) -> Bool {
            guard expect(UInt8(ascii: "{")) else { return false }
            if expect(UInt8(ascii: "}")) { return true }
            while true {
                guard let key = string(), expect(UInt8(ascii: ":")), member(key, &self) else { return false }
                if expect(UInt8(ascii: ",")) { continue }
                return expect(UInt8(ascii: "}"))
            }
        }

        /// A string; escapes (`\/` from JSONEncoder, `\uXXXX`, …) are decoded.
        mutating func string() -> String? {
            guard expect(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                if bytes[index] == UInt8(ascii: "\\") { return escapedString(from: start) }
                if bytes[index] < 0x20 { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            index += 1
            return text
        }

        private mutating func escapedString(from start: Int) -> String? {
            var out = Array(bytes[start..<index])
            var pendingHigh: UInt32?
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return pendingHigh == nil ? String(decoding: out, as: UTF8.self) : nil
                }
                if byte < 0x20 { return nil }
                if byte != UInt8(ascii: "\\") {
                    guard pendingHigh == nil else { return nil }
                    out.append(byte)
                    index += 1
                    continue
                }
                guard index + 1 < bytes.count else { return nil }
                let code = bytes[index + 1]
                index += 2
                var scalar: UInt32
                switch code {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalar = UInt32(code)
                case UInt8(ascii: "b"): scalar = 8
                case UInt8(ascii: "f"): scalar = 12
                case UInt8(ascii: "n"): scalar = 10
                case UInt8(ascii: "r"): scalar = 13
                case UInt8(ascii: "t"): scalar = 9
                case UInt8(ascii: "u"):
                    guard index + 4 <= bytes.count,
                          let value = UInt32(String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<index + 4]), as: UTF8.self), radix: 16) else { return nil }
                    index += 4
                    scalar = value
                default: return nil
                }
                if let high = pendingHigh {
                    guard (0xDC00...0xDFFF).contains(scalar) else { return nil }
                    scalar = 0x10000 + ((high - 0xD800) << 10) + (scalar - 0xDC00)
                    pendingHigh = nil
                } else if (0xD800...0xDBFF).contains(scalar) {
                    pendingHigh = scalar
                    continue
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    return nil
                }
                guard let unicode = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            }
            return nil
        }

        /// A non-negative or negative integer without fraction or exponent.
        mutating func integer() -> Int64? {
            skipSpace()
            var negative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
            var value: Int64 = 0
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(bytes[index] - 48))
                guard !o1, !o2 else { return nil }
                value = a
                index += 1
            }
            guard index > start else { return nil }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) { return nil }
            return negative ? -value : value
        }
    }
}
