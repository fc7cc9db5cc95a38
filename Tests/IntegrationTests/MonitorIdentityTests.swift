import Foundation
import LDAPClient
import Testing

/// The monitor's side of agent identity and of flap damping, end to end: a converter
/// entry pointing at another converter's agent is not taken for up (and none of that
/// agent's traffic is stored as its own), and a flapping converter's held mails end in
/// one digest mail once it is stable.
@Suite("Monitoring: agent identity and flap digest", .serialized)
struct MonitorIdentityTests {
    static let converters = "ou=converters,tgOrgNumber=1001,ou=subscribers,dc=tollgate"

    func converterDN(_ name: String) -> DistinguishedName {
        DistinguishedName("cn=\(name),\(Self.converters)")
    }

    func attribute(_ rig: MonitorRig, _ name: String, _ attribute: String) async throws -> String? {
        let client = rig.directory
        defer { Task { await client.close() } }
        return try await client.read(converterDN(name), attributes: [attribute])?[attribute]
    }

    @Test("an entry pointing at another converter's agent: down with an identity reason, nothing collected; back up once fixed")
    func anotherConvertersAgent() async throws {
        let rig = try await MonitorRig.start(converters: 4, recordInterval: 0.1, serve: [
            "--probe-interval", "1", "--probe-timeout", "3", "--down-after", "2"])
        defer { Task { await rig.stop() } }
        let allUp = try await eventually(60) {
            let healths = try await rig.healths()
            return healths.count == 4 && healths.values.allSatisfy { $0 == "up" }
        }
        let seen = try await rig.healths()
        try #require(allUp, "\(seen)\n\(rig.log().suffix(2000))")
        let victim = "sim-00001", other = "sim-00002"
        let ownPort = try #require(try await attribute(rig, victim, "tgStatusPort"))
        let otherPort = try #require(try await attribute(rig, other, "tgStatusPort"))
        #expect(ownPort != otherPort)

        // The victim's entry now names the other converter's agent (a mistyped port, or an
        // agent answering with a certificate that is not this converter's).
        let client = rig.directory
        try await client.modify(converterDN(victim), [.replace("tgStatusPort", [otherPort])])
        let down = try await eventually(30) { try await rig.healths()[victim] == "down" }
        #expect(down, "\(victim) not marked down while another converter's agent answers for it")
        let cursor = try await attribute(rig, victim, "tgTrafficCursor")
        try await Task.sleep(for: .seconds(3))
        let later = try await attribute(rig, victim, "tgTrafficCursor")
        #expect(later == cursor,
                "records of \(other)'s agent were collected as \(victim)'s")
        let otherHealth = try await rig.healths()[other]
        #expect(otherHealth == "up", "the agent that answered keeps its own converter up")
        let events = try await client.search(base: "ou=history,tgOrgNumber=1001,ou=subscribers,dc=tollgate", scope: .oneLevel,
                                             filter: .and([.equal("cn", victim), .equal("tgEventType", "converter.down")]),
                                             attributes: ["tgEventData"])
        let reason = events.compactMap { $0["tgEventData"] }.joined()
        #expect(reason.contains("presented the certificate") && reason.contains(other), "down reason: \(reason)")

        // Fixed: the victim's own agent answers again.
        try await client.modify(converterDN(victim), [.replace("tgStatusPort", [ownPort])])
        await client.close()
        let up = try await eventually(30) { try await rig.healths()[victim] == "up" }
        #expect(up, "\(victim) not back up with its own agent")
        let resumed = try await eventually(20) { try await attribute(rig, victim, "tgTrafficCursor") != cursor }
        #expect(resumed, "collection of \(victim) did not resume")
    }

    @Test("a flapping converter: the first changes mail, later ones are held, one digest mail once it is stable")
    func flapDigest() async throws {
        let rig = try await MonitorRig.start(converters: 3, recordInterval: 0, serve: [
            "--probe-interval", "1", "--probe-timeout", "2", "--down-after", "1", "--flap-limit", "2", "--flap-window", "20"])
        defer { Task { await rig.stop() } }
        let allUp = try await eventually(60) {
            let healths = try await rig.healths()
            return healths.count == 3 && healths.values.allSatisfy { $0 == "up" }
        }
        let seen = try await rig.healths()
        try #require(allUp, "\(seen)")
        let flapper = "sim-00002"
        // Three outages: six changes within the window; only the first two mail.
        for _ in 0..<3 {
            try await rig.control("POST", "/stop/\(flapper)")
            let wentDown = try await eventually(20) { try await rig.healths()[flapper] == "down" }
            #expect(wentDown)
            try await rig.control("POST", "/start/\(flapper)")
            let cameBack = try await eventually(20) { try await rig.healths()[flapper] == "up" }
            #expect(cameBack)
        }
        try await Task.sleep(for: .seconds(2))
        let held = try rig.mails(about: flapper).map(\.subject)
        #expect(held == ["Converter \(flapper) is down", "Converter \(flapper) is back (up)"], "\(held)")
        // Stable for the flap window: exactly one digest naming the held changes.
        let digest = try await eventually(45) { try rig.mails(about: flapper).count >= 3 }
        #expect(digest, "no digest mail after the converter was stable for --flap-window")
        try await Task.sleep(for: .seconds(3))
        let mails = try rig.mails(about: flapper)
        #expect(mails.count == 3, "\(mails.map(\.subject))")
        let last = try #require(mails.last)
        #expect(last.subject == "Converter \(flapper): 4 state changes, now up", "\(last.subject)")
        #expect(last.text?.contains("held its mails because it kept flapping") == true)
        #expect(last.rcpt_tos == ["noc@example.net"])
    }
}
