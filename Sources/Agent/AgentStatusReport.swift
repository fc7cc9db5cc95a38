import Foundation

/// `GET /v1/status` of the agent's monitoring endpoint (docs/agent.md, "Monitoring endpoints").
public struct AgentStatusReport: Codable, Sendable, Equatable {
    public struct CertificateInfo: Codable, Sendable, Equatable {
        /// Lowercase hex.
        public var serial: String
        /// RFC 3339.
        public var notAfter: String
    }

    public struct Tunnels: Codable, Sendable, Equatable {
        /// Children the policy wants.
        public var configured: Int
        /// Of those, children with an installed CHILD_SA.
        public var up: Int
    }

    public struct Resources: Codable, Sendable, Equatable {
        /// Resident memory of the agent process.
        public var memoryBytes: UInt64
        public var loadAverage1m: Double
        /// Journal records not yet acknowledged.
        public var bufferedRecords: Int
    }

    public var converter: String
    public var org: String
    public var version: String
    public var uptimeSeconds: Int
    public var certificate: CertificateInfo
    public var tunnels: Tunnels
    public var resources: Resources
    /// `ok` or `degraded`.
    public var health: String
    /// Why the health is `degraded` (empty when `ok`).
    public var problems: [String]

    /// A placeholder while the agent shuts down.
    static let empty = AgentStatusReport(
        converter: "", org: "", version: AgentVersion.string, uptimeSeconds: 0, certificate: .init(serial: "", notAfter: ""),
        tunnels: .init(configured: 0, up: 0), resources: .init(memoryBytes: 0, loadAverage1m: 0, bufferedRecords: 0),
        health: "degraded", problems: ["stopping"])

    /// Resident set size from /proc/self/statm (0 where unavailable).
    static func residentMemory() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
    }

    /// The 1-minute load average (0 where unavailable).
    static func loadAverage() -> Double {
        var loads = [Double](repeating: 0, count: 3)
        return getloadavg(&loads, 3) > 0 ? (loads[0] * 100).rounded() / 100 : 0
    }
}
