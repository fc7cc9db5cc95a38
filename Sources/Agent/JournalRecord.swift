import Foundation

/// One record of the traffic journal, as `GET /v1/traffic` serves it (docs/agent.md,
/// "Monitoring endpoints"). Only the fields of its kind are set; nil fields are omitted
/// from the JSON.
///
/// - `traffic`: bytes and packets of one child (destination) during `start`…`end`.
/// - `access`: one decision `tollgate-agent check` received.
/// - `dropped`: how many access records could not be kept because the journal was full.
public struct JournalRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case traffic, access, dropped
    }

    /// Increasing across restarts, from 1; 0 until the journal assigns it.
    public var seq: UInt64
    public var kind: Kind
    // traffic
    public var start: String?
    public var end: String?
    public var child: String?
    public var destination: String?
    public var bytesIn: UInt64?
    public var bytesOut: UInt64?
    public var packetsIn: UInt64?
    public var packetsOut: UInt64?
    // access
    public var time: String?
    public var `protocol`: String?
    public var port: Int?
    public var allow: Bool?
    public var reason: String?
    public var source: String?
    // dropped
    public var count: UInt64?

    enum CodingKeys: String, CodingKey {
        case seq, kind, start, end, child, destination, bytesIn, bytesOut, packetsIn, packetsOut
        case time, `protocol`, port, allow, reason, source, count
    }

    init(seq: UInt64 = 0, kind: Kind) {
        self.seq = seq
        self.kind = kind
    }

    /// Traffic of `child` towards `destination` (a CIDR) between `start` and `end`.
    public static func traffic(child: String, destination: String, start: Date, end: Date,
                               bytesIn: UInt64, bytesOut: UInt64, packetsIn: UInt64, packetsOut: UInt64) -> JournalRecord {
        var record = JournalRecord(kind: .traffic)
        record.child = child
        record.destination = destination
        record.start = RFC3339.format(start)
        record.end = RFC3339.format(end)
        record.bytesIn = bytesIn
        record.bytesOut = bytesOut
        record.packetsIn = packetsIn
        record.packetsOut = packetsOut
        return record
    }

    /// An access decision (`allow` true or false) for `destination`.
    public static func access(time: Date, destination: String, protocol proto: String?, port: Int?, allow: Bool,
                              reason: String?, source: String?) -> JournalRecord {
        var record = JournalRecord(kind: .access)
        record.time = RFC3339.format(time)
        record.destination = destination
        record.protocol = proto
        record.port = port
        record.allow = allow
        record.reason = reason
        record.source = source
        return record
    }

    /// `count` access records that were not kept.
    public static func dropped(_ count: UInt64) -> JournalRecord {
        var record = JournalRecord(kind: .dropped)
        record.count = count
        return record
    }

    /// Adds another interval's counters of the same child and destination (journal full):
    /// bytes and packets add up, the interval widens.
    mutating func absorb(_ other: JournalRecord) {
        bytesIn = (bytesIn ?? 0) &+ (other.bytesIn ?? 0)
        bytesOut = (bytesOut ?? 0) &+ (other.bytesOut ?? 0)
        packetsIn = (packetsIn ?? 0) &+ (other.packetsIn ?? 0)
        packetsOut = (packetsOut ?? 0) &+ (other.packetsOut ?? 0)
        if let otherStart = other.start, let start, otherStart < start { self.start = otherStart }
        if let otherEnd = other.end, let end, otherEnd > end { self.end = otherEnd }
        if start == nil { start = other.start }
        if end == nil { end = other.end }
    }
}

/// RFC 3339 UTC times with `Z` and whole seconds, as the monitoring contract uses them.
public enum RFC3339 {
    public static func format(_ date: Date) -> String {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).formatted(Date.ISO8601FormatStyle())
    }

    public static func parse(_ text: String) -> Date? { JSONCoding.parseDate(text) }
}
