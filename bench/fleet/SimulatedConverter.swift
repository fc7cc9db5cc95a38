import Foundation
import Synchronization

/// One simulated converter agent: deterministic synthetic traffic and access records,
/// a bounded-free buffer of unacknowledged records, and running totals of everything it
/// ever produced (what the monitor must end up with, exactly once).
final class SimulatedConverter: Sendable {
    let index: Int
    let name: String
    let org: String
    let serial: String
    let notAfter: Date
    let recordInterval: Double

    struct Totals: Codable, Sendable {
        var records: Int64 = 0
        var trafficRecords: Int64 = 0
        var accessRecords: Int64 = 0
        var bytesIn: Int64 = 0
        var bytesOut: Int64 = 0
        var packetsIn: Int64 = 0
        var packetsOut: Int64 = 0
        var allowed: Int64 = 0
        var denied: Int64 = 0
    }

    struct State: Sendable {
        var nextSeq: Int64 = 1
        var acked: Int64 = 0
        var buffer: [[String: any Sendable]] = []
        var lastTick: Date
        var totals = Totals()
        var degraded = false
        var frozen = false
        var started = Date()
    }
    let state: Mutex<State>

    init(index: Int, name: String, org: String, serial: String, notAfter: Date, recordInterval: Double, start: Date) {
        self.index = index
        self.name = name
        self.org = org
        self.serial = serial
        self.notAfter = notAfter
        self.recordInterval = recordInterval
        self.state = Mutex(State(lastTick: start))
    }

    static func rfc3339(_ date: Date) -> String { date.formatted(.iso8601) }

    /// Generates the records due up to `now` (one traffic and one access record per tick).
    private func generate(_ state: inout State, now: Date) {
        guard recordInterval > 0, !state.frozen else { return }
        var produced = 0
        while state.lastTick.addingTimeInterval(recordInterval) <= now, produced < 5000 {
            let start = state.lastTick
            let end = start.addingTimeInterval(recordInterval)
            state.lastTick = end
            let seq = state.nextSeq
            let bytesIn = Int64(1000 + (index * 7 + Int(seq)) % 500)
            let bytesOut = Int64(200 + (index * 3 + Int(seq)) % 100)
            let packetsIn = bytesIn / 100, packetsOut = bytesOut / 100
            state.buffer.append(["seq": Int(seq), "kind": "traffic", "start": Self.rfc3339(start), "end": Self.rfc3339(end),
                                 "child": "dst-\(index % 4)", "destination": "10.20.\(index % 4).0/24",
                                 "bytesIn": Int(bytesIn), "bytesOut": Int(bytesOut), "packetsIn": Int(packetsIn), "packetsOut": Int(packetsOut)])
            state.totals.bytesIn += bytesIn
            state.totals.bytesOut += bytesOut
            state.totals.packetsIn += packetsIn
            state.totals.packetsOut += packetsOut
            state.totals.trafficRecords += 1
            let allow = seq % 3 != 0
            state.buffer.append(["seq": Int(seq + 1), "kind": "access", "time": Self.rfc3339(end), "destination": "10.20.\(index % 4).\(seq % 5)",
                                 "protocol": "tcp", "port": 443, "allow": allow, "reason": allow ? "rule web" : "no rule",
                                 "source": "10.10.1.7"])
            if allow { state.totals.allowed += 1 } else { state.totals.denied += 1 }
            state.totals.accessRecords += 1
            state.totals.records += 2
            state.nextSeq += 2
            produced += 1
        }
    }

    /// `GET /v1/traffic?after=&limit=`: acknowledges ≤ after, returns the next records.
    func traffic(after: Int64, limit: Int, now: Date = Date()) -> [String: Any] {
        let (records, last, more) = state.withLock { state -> ([[String: any Sendable]], Int, Bool) in
            generate(&state, now: now)
            if after > state.acked {
                state.acked = min(after, state.nextSeq - 1)
                let acked = Int(state.acked)
                state.buffer.removeAll { ($0["seq"] as? Int ?? 0) <= acked }
            }
            let records = Array(state.buffer.lazy.filter { ($0["seq"] as? Int ?? 0) > Int(after) }.prefix(limit))
            let last = (records.last?["seq"] as? Int) ?? Int(after)
            let more = (state.buffer.last?["seq"] as? Int ?? 0) > last
            return (records, last, more)
        }
        return ["records": records.map { record in record.mapValues { $0 as Any } }, "last": last, "more": more]
    }

    func status(now: Date = Date()) -> [String: Any] {
        let (degraded, buffered, uptime) = state.withLock { state -> (Bool, Int, Int) in
            generate(&state, now: now)
            return (state.degraded, state.buffer.count, Int(now.timeIntervalSince(state.started)))
        }
        return ["converter": name, "org": org, "version": "fleet-sim", "uptimeSeconds": uptime,
                "certificate": ["serial": serial, "notAfter": Self.rfc3339(notAfter)],
                "tunnels": ["configured": 1, "up": degraded ? 0 : 1],
                "resources": ["memoryBytes": 1_000_000, "loadAverage1m": 0.1, "bufferedRecords": buffered] as [String: Any],
                "health": degraded ? "degraded" : "ok", "problems": degraded ? ["tunnel dst-0 down"] : [String]()]
    }

    func setDegraded(_ value: Bool) { state.withLock { $0.degraded = value } }

    func setFrozen(_ value: Bool, now: Date = Date()) {
        state.withLock { state in
            if !value && state.frozen { state.lastTick = now }
            if value && !state.frozen { generate(&state, now: now) }
            state.frozen = value
        }
    }

    /// Totals, last seq produced and last seq acknowledged.
    func snapshot() -> (totals: Totals, last: Int64, acked: Int64) {
        state.withLock { ($0.totals, $0.nextSeq - 1, $0.acked) }
    }
}
