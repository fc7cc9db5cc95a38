import Agent
import Foundation
import Testing

@Suite("Policy to tunnel plan")
struct TunnelPlanTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func policy(_ destinations: [PolicyDestination]) -> AccessPolicy {
        AccessPolicy(org: "1001", converter: "conv-a", version: "v1", destinations: destinations)
    }

    func destination(_ name: String, _ network: String, _ proto: String = "any", ports: [String] = [], action: String = "allow",
                     notBefore: Date? = nil, notAfter: Date? = nil) -> PolicyDestination {
        PolicyDestination(dn: "cn=\(name),ou=destinations,tgOrgNumber=1001,ou=subscribers,dc=tollgate", name: name, network: network,
                          protocol: proto, ports: ports, action: action, notBefore: notBefore, notAfter: notAfter)
    }

    @Test("allow entries become children with protocol and port ranges in the traffic selectors")
    func selectors() {
        let plan = TunnelPlan(policy: policy([
            destination("intranet-https", "10.20.0.0/16", "tcp", ports: ["443", "8000-8080"]),
            destination("fileserver", "10.30.1.5/32"),
            destination("lab-v6", "2001:db8:1::/48", "udp", ports: ["500"]),
            destination("pinger", "10.60.0.0/24", "icmp"),
            destination("pinger6", "2001:db8:2::/64", "icmp"),
        ]), at: now)
        let byDN = Dictionary(uniqueKeysWithValues: plan.children.map { ($0.destinationDN.split(separator: ",")[0], $0.remoteTS) })
        #expect(byDN["cn=intranet-https"] == ["10.20.0.0/16[tcp/443]", "10.20.0.0/16[tcp/8000-8080]"])
        #expect(byDN["cn=fileserver"] == ["10.30.1.5/32"])
        #expect(byDN["cn=lab-v6"] == ["2001:db8:1::/48[udp/500]"])
        #expect(byDN["cn=pinger"] == ["10.60.0.0/24[icmp]"])
        #expect(byDN["cn=pinger6"] == ["2001:db8:2::/64[ipv6-icmp]"])
        #expect(plan.skipped.isEmpty)
        #expect(plan.children.allSatisfy { $0.name.hasPrefix("d-") && $0.name.count <= 36 })
    }

    @Test("expired, not yet valid and deny entries get no child; a deny shadowing an allow removes it")
    func validityAndDeny() {
        let plan = TunnelPlan(policy: policy([
            destination("old", "10.50.0.0/24", "tcp", ports: ["22"], notAfter: now.addingTimeInterval(-1)),
            destination("future", "10.51.0.0/24", notBefore: now.addingTimeInterval(60)),
            destination("edge", "10.52.0.0/24", notBefore: now, notAfter: now.addingTimeInterval(1)),
            destination("blocked", "10.53.0.0/24", "tcp", ports: ["443"]),
            destination("block-all", "10.53.0.0/24", action: "deny"),
            destination("carve-out-allow", "10.54.0.0/16"),
            destination("carve-out-deny", "10.54.1.0/24", action: "deny"),
            destination("ssh-only-denied", "10.55.0.0/24", "tcp", ports: ["22"]),
            destination("deny-https", "10.55.0.0/24", "tcp", ports: ["443"], action: "deny"),
        ]), at: now)
        let names = plan.children.map { $0.destinationDN.split(separator: ",")[0] }
        #expect(Set(names) == ["cn=edge", "cn=carve-out-allow", "cn=ssh-only-denied"])
        #expect(plan.skipped.contains { $0.contains("blocked") && $0.contains("block-all") })
        #expect(TunnelPlan.nextChange(of: policy([destination("f", "10.0.0.0/8", notBefore: now.addingTimeInterval(60))]), after: now)
                == now.addingTimeInterval(60))
    }

    @Test("child names are stable and change when the destination's content changes")
    func names() {
        let a = TunnelPlan(policy: policy([destination("Intranet Web", "10.20.0.0/16", "tcp", ports: ["443"])]), at: now)
        let same = TunnelPlan(policy: policy([destination("Intranet Web", "10.20.0.0/16", "tcp", ports: ["443"])]), at: now)
        let moved = TunnelPlan(policy: policy([destination("Intranet Web", "10.21.0.0/16", "tcp", ports: ["443"])]), at: now)
        #expect(a.children.map(\.name) == same.children.map(\.name))
        #expect(a.children.map(\.name) != moved.children.map(\.name))
        #expect(a.children[0].name.hasPrefix("d-intranet_web-"))
    }

    @Test("unusable networks and ports are skipped with a reason")
    func unusable() {
        let plan = TunnelPlan(policy: policy([
            destination("bad-net", "10.0.0.300/8"),
            destination("bad-port", "10.1.0.0/16", "tcp", ports: ["99999"]),
            destination("odd-proto", "10.2.0.0/16", "gre"),
        ]), at: now)
        #expect(plan.children.isEmpty)
        #expect(plan.skipped.count == 3)
    }

    @Test("CIDR parsing normalises host bits and rejects garbage")
    func cidr() {
        #expect(CIDR("10.20.3.4/16")?.description == "10.20.0.0/16")
        #expect(CIDR("2001:db8:1::5/48")?.description == "2001:db8:1::/48")
        #expect(CIDR("10.1.2.3")?.description == "10.1.2.3/32")
        #expect(CIDR("10.1.2.3/33") == nil)
        #expect(CIDR("example.com/8") == nil)
        #expect(CIDR("") == nil)
    }
}
