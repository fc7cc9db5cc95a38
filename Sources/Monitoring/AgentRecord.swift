import Foundation

/// One record of an agent's `GET /v1/traffic` answer: `traffic` (counters of a CHILD_SA
/// over an interval), `access` (one access decision) or `dropped` (records the agent's
/// bounded buffer had to drop). Unknown kinds are skipped by collection.
public struct AgentRecord: Codable, Sendable, Equatable {
    public var seq: Int64
    public var kind: String
    // traffic
    public var start: String?
    public var end: String?
    public var child: String?
    public var destination: String?
    public var bytesIn: Int64?
    public var bytesOut: Int64?
    public var packetsIn: Int64?
    public var packetsOut: Int64?
    // access
    public var time: String?
    public var `protocol`: String?
    public var port: Int?
    public var allow: Bool?
    public var reason: String?
    public var source: String?
    // dropped
    public var count: Int64?

    public init(seq: Int64, kind: String) {
        self.seq = seq
        self.kind = kind
    }

    /// Parses an RFC 3339 UTC time (whole or fractional seconds).
    public static func date(_ text: String?) -> Date? {
        guard let text else { return nil }
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// RFC 3339 with whole seconds and `Z`.
    public static func string(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

/// The answer of `GET /v1/traffic?after=SEQ&limit=N`.
public struct TrafficPage: Codable, Sendable, Equatable {
    public var records: [AgentRecord]
    /// Seq of the last record returned, or `after` when none.
    public var last: Int64
    public var more: Bool

    public init(records: [AgentRecord], last: Int64, more: Bool) {
        self.records = records
        self.last = last
        self.more = more
    }
}

/// The answer of `GET /v1/status` (the fields the monitor uses; others are ignored).
public struct AgentStatus: Codable, Sendable, Equatable {
    public struct CertificateInfo: Codable, Sendable, Equatable {
        public var serial: String?
        public var notAfter: String?
    }
    public var converter: String?
    public var org: String?
    public var version: String?
    public var certificate: CertificateInfo?
    /// `ok` or `degraded`.
    public var health: String
    public var problems: [String]?
}
