import Foundation
import LDAPClient
import TestSupport
import Testing

/// Issue 6 (probes and collection) end to end: a real `tollgate serve` with its managed
/// slapd and aiosmtpd polls a fleet of simulated agents over mTLS.
@Suite("monitor: probes, health mails and traffic collection", .serialized)
struct MonitorFleetTests {
    @Test("200 converters come up; one down → one mail, recovery → one mail; flapping holds mails")
    func fleetHealth() async throws {
        // Every converter produces records too (one traffic + one access a second), so
        // collection runs alongside the health checks.
        let rig = try await MonitorRig.start(converters: 200, recordInterval: 1, serve: [
            "--probe-interval", "1", "--probe-timeout", "2", "--down-after", "3", "--flap-limit", "4", "--flap-window", "600"])
        defer { Task { await rig.stop() } }
        #expect(rig.names.count == 200)
        let allUp = try await eventually(90) {
            let healths = try await rig.healths()
            return healths.count == 200 && healths.values.allSatisfy { $0 == "up" }
        }
        let notUp = try await rig.healths().filter { $0.value != "up" }
        #expect(allUp, "not all converters up: \(notUp.count) e.g. \(notUp.prefix(5))\n\(rig.log().suffix(3000))")

        // One converter stops: down after 3 missed probes, one mail to the tenant.
        let victim = "sim-00007"
        try await rig.control("POST", "/stop/\(victim)")
        let down = try await eventually(30) { try await rig.healths()[victim] == "down" }
        #expect(down, "\(victim) not marked down")
        let downMail = try await eventually(20) { try rig.mails(about: victim).count >= 1 }
        #expect(downMail)
        try await Task.sleep(for: .seconds(3))  // more failed probes: still one mail
        var mails = try rig.mails(about: victim)
        #expect(mails.count == 1, "\(mails.map(\.subject))")
        #expect(mails.first?.subject == "Converter \(victim) is down")
        #expect(mails.first?.rcpt_tos == ["noc@example.net"])
        #expect(mails.first?.text?.contains("3 probes missed") == true)
        #expect(mails.first?.html?.contains("<p>") == true)
        // Every other converter stayed up.
        let others = try await rig.healths().filter { $0.key != victim && $0.value != "up" }
        #expect(others.isEmpty, "\(others)")

        // It comes back: one recovery mail.
        try await rig.control("POST", "/start/\(victim)")
        let up = try await eventually(30) { try await rig.healths()[victim] == "up" }
        #expect(up, "\(victim) not back up")
        _ = try await eventually(20) { try rig.mails(about: victim).count >= 2 }
        try await Task.sleep(for: .seconds(2))
        mails = try rig.mails(about: victim)
        #expect(mails.map(\.subject) == ["Converter \(victim) is down", "Converter \(victim) is back (up)"])

        // History: converter.down with the contract's data, then converter.up.
        let client = rig.directory
        let events = try await client.search(base: "ou=history,tgOrgNumber=1001,ou=subscribers,dc=tollgate", scope: .oneLevel,
                                             filter: .and([.equal("cn", victim), .equal("tgActor", "monitor")]),
                                             attributes: ["tgEventType", "tgEventData", "tgEventId"])
        await client.close()
        let ordered = events.sorted { ($0["tgEventId"] ?? "") < ($1["tgEventId"] ?? "") }
        #expect(ordered.map { $0["tgEventType"] ?? "" } == ["converter.up", "converter.down", "converter.up"])
        let downData = try #require(ordered.dropFirst().first?["tgEventData"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(downData.utf8)) as? [String: String])
        #expect(object["from"] == "up" && object["to"] == "down")
        #expect(object["reason"]?.hasPrefix("3 probes missed: ") == true)

        // An agent reporting problems is degraded (history, no mail), then up again.
        let ailing = "sim-00003"
        try await rig.control("POST", "/degrade/\(ailing)")
        let degraded = try await eventually(30) { try await rig.healths()[ailing] == "degraded" }
        #expect(degraded, "\(ailing) not marked degraded")
        try await rig.control("POST", "/recover/\(ailing)")
        let recovered = try await eventually(30) { try await rig.healths()[ailing] == "up" }
        #expect(recovered)
        #expect(try rig.mails(about: ailing).isEmpty, "degraded is not mailed")

        // Flapping: 4 outages = 8 changes; with --flap-limit 4 only the first 4 mail.
        let flapper = "sim-00011"
        for _ in 0..<4 {
            try await rig.control("POST", "/stop/\(flapper)")
            let wentDown = try await eventually(30) { try await rig.healths()[flapper] == "down" }
            #expect(wentDown)
            try await rig.control("POST", "/start/\(flapper)")
            let cameBack = try await eventually(30) { try await rig.healths()[flapper] == "up" }
            #expect(cameBack)
        }
        try await Task.sleep(for: .seconds(3))
        let flapMails = try rig.mails(about: flapper)
        #expect(flapMails.count == 4, "mails while flapping: \(flapMails.map(\.subject))")

        // Collection of 200 converters per 1-s cycle with the default batching: each
        // transaction holds several converters' pages.
        let cycles = rig.cycleCounts().filter { ($0["pages"] ?? 0) >= 100 }
        #expect(!cycles.isEmpty, "no cycle collected from 100 converters or more")
        #expect(cycles.allSatisfy { ($0["transactions"] ?? 0) < ($0["pages"] ?? 0) }, "\(cycles.prefix(5))")
    }

    @Test("every produced record is in the samples exactly once, across kill -9 of tollgate serve")
    func collectionExactlyOnce() async throws {
        // Batches of up to 8 converters' pages, waiting up to 0.3 s for each other (the 20
        // probes are spread over 0.9 s): several converters per transaction.
        let rig = try await MonitorRig.start(converters: 20, recordInterval: 0.05, serve: [
            "--probe-interval", "1", "--probe-timeout", "3", "--traffic-page-size", "50",
            "--collect-batch", "8", "--collect-batch-wait", "0.3"])
        defer { Task { await rig.stop() } }
        // Collect a while, kill -9 in the middle of collection (twice), restart.
        for pause in [4, 3] {
            try await Task.sleep(for: .seconds(pause))
            await rig.killServe()
            try await Task.sleep(for: .seconds(1))
            try await rig.restartServe()
        }
        try await Task.sleep(for: .seconds(2))
        try await rig.control("POST", "/freeze")
        // Everything produced gets acknowledged (i.e. committed first).
        var report: [String: Any] = [:]
        let caughtUp = try await eventually(90) {
            report = try await rig.control("GET", "/totals")
            guard let converters = report["converters"] as? [String: [String: Any]], converters.count == 20 else { return false }
            return converters.values.allSatisfy { ($0["acked"] as? Int) == ($0["last"] as? Int) && ($0["last"] as? Int ?? 0) > 0 }
        }
        #expect(caughtUp, "the monitor did not catch up: \(report)\n\(rig.log().suffix(3000))")
        let totals = try #require(report["totals"] as? [String: Int])
        #expect((totals["records"] ?? 0) > 1000, "the simulator produced too little to prove anything: \(totals)")

        let client = rig.directory
        let samples = try await client.search(base: "ou=traffic,tgOrgNumber=1001,ou=subscribers,dc=tollgate", scope: .oneLevel,
                                              filter: .and([.equal("objectClass", "tgTrafficSample"), .equal("tgSampleInterval", "300")]),
                                              pageSize: 1000)
        let converters = try await client.search(base: "ou=converters,tgOrgNumber=1001,ou=subscribers,dc=tollgate", scope: .oneLevel,
                                                 filter: .substring("cn", initial: "sim-", any: [], final: nil), attributes: ["cn", "tgTrafficCursor"])
        await client.close()
        func sum(_ attribute: String) -> Int { samples.reduce(0) { $0 + (Int($1[attribute] ?? "0") ?? 0) } }
        #expect(sum("tgBytesIn") == totals["bytesIn"])
        #expect(sum("tgBytesOut") == totals["bytesOut"])
        #expect(sum("tgPacketsIn") == totals["packetsIn"])
        #expect(sum("tgPacketsOut") == totals["packetsOut"])
        #expect(sum("tgAllowedAttempts") == totals["allowed"])
        #expect(sum("tgDeniedAttempts") == totals["denied"])
        // The cursor stored for each converter is the last seq it produced.
        let produced = try #require(report["converters"] as? [String: [String: Any]])
        for entry in converters {
            let name = try #require(entry["cn"])
            #expect(entry["tgTrafficCursor"].flatMap(Int.init) == produced[name]?["last"] as? Int, "cursor of \(name)")
        }
        // Per-destination split adds up too.
        var splitIn = 0
        for sample in samples {
            guard let json = sample["tgEventData"],
                  let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                  let destinations = object["destinations"] as? [String: [String: Int]] else { continue }
            splitIn += destinations.values.reduce(0) { $0 + ($1["bytesIn"] ?? 0) }
        }
        #expect(splitIn == totals["bytesIn"])

        // Group commit really happened: fewer transactions than committed pages, and
        // batches of several converters.
        let cycles = rig.cycleCounts()
        let pages = cycles.reduce(0) { $0 + ($1["pages"] ?? 0) }
        let transactions = cycles.reduce(0) { $0 + ($1["transactions"] ?? 0) }
        #expect(pages > 20, "pages committed: \(pages)")
        #expect(transactions * 2 <= pages, "\(transactions) transactions for \(pages) pages: not batched")
        #expect(cycles.contains { ($0["largestBatch"] ?? 0) >= 3 }, "no batch of 3 or more converters")
        #expect(cycles.allSatisfy { $0["failedBatches"] == 0 })
    }
}
