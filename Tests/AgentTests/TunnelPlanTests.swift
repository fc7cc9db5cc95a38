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
        // The carve-out is cut out of the /16: the eight blocks around 10.54.1.0/24.
        let carved = plan.children.first { $0.destinationDN.hasPrefix("cn=carve-out-allow,") }?.remoteTS
        #expect(carved == ["10.54.0.0/24", "10.54.2.0/23", "10.54.4.0/22", "10.54.8.0/21", "10.54.16.0/20", "10.54.32.0/19",
                           "10.54.64.0/18", "10.54.128.0/17"])
        #expect(TunnelPlan.nextChange(of: policy([destination("f", "10.0.0.0/8", notBefore: now.addingTimeInterval(60))]), after: now)
                == now.addingTimeInterval(60))
    }

    /// Every IPv4 address of `selectors` (plain CIDRs), expanded: for small test networks.
    func addresses(_ selectors: [String]) -> Set<UInt32> {
        var result = Set<UInt32>()
        for selector in selectors {
            guard let cidr = CIDR(selector), !cidr.isIPv6 else { continue }
            let base = cidr.bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            for offset in 0..<(UInt32(1) << UInt32(32 - cidr.prefixLength)) { result.insert(base + offset) }
        }
        return result
    }

    @Test("carving follows the decision rules: longest prefix wins, deny beats allow at equal length, allows inside denies")
    func carving() {
        let plan = TunnelPlan(policy: policy([
            destination("site", "10.70.0.0/22"),
            destination("lab", "10.70.1.0/24", action: "deny"),
            destination("lab-printer", "10.70.1.16/28"),
            destination("wider-deny", "10.0.0.0/8", action: "deny"),  // shorter than site: loses to it
            destination("late-deny", "10.70.3.0/24", action: "deny", notBefore: now.addingTimeInterval(60)),
        ]), at: now)
        let site = plan.children.first { $0.destinationDN.hasPrefix("cn=site,") }?.remoteTS ?? []
        let printer = plan.children.first { $0.destinationDN.hasPrefix("cn=lab-printer,") }?.remoteTS ?? []
        // The tunnels carry exactly what check allows: site without lab, plus the printer.
        let base = UInt32(10) << 24 | UInt32(70) << 16
        let expected = Set((0..<1024).map { base + UInt32($0) }.filter { !(256..<512).contains($0 - base) || (272..<288).contains($0 - base) })
        #expect(addresses(site).union(addresses(printer)) == expected)
        #expect(printer == ["10.70.1.16/28"])
        #expect(site == ["10.70.0.0/24", "10.70.2.0/23"])
        #expect(plan.narrowed.isEmpty)
    }

    @Test("ports are subtracted within a protocol; a one-protocol deny inside an allow for any protocol narrows the tunnel")
    func portCarving() {
        let plan = TunnelPlan(policy: policy([
            destination("web", "10.80.0.0/16", "tcp", ports: ["80", "443", "8000-8100"]),
            destination("no-8080", "10.80.5.0/24", "tcp", ports: ["8080"], action: "deny"),
            destination("udp-deny", "10.80.6.0/24", "udp", action: "deny"),  // other protocol: no effect
            destination("all-tcp", "10.81.0.0/24", "tcp"),
            destination("no-ssh", "10.81.0.0/24", "tcp", ports: ["22"], action: "deny"),
            destination("everything", "10.82.0.0/24"),
            destination("no-icmp", "10.82.0.128/25", "icmp", action: "deny"),
            destination("v6", "2001:db8:5::/48"),
            destination("v6-hole", "2001:db8:5:ff::/64", action: "deny"),
        ]), at: now)
        func ts(_ name: String) -> [String] { plan.children.first { $0.destinationDN.hasPrefix("cn=\(name),") }?.remoteTS ?? [] }
        let web = ts("web")
        #expect(web.contains("10.80.5.0/24[tcp/8000-8079]") && web.contains("10.80.5.0/24[tcp/8081-8100]") && web.contains("10.80.5.0/24[tcp/443]"))
        #expect(!web.contains { $0.hasPrefix("10.80.5.0/24") && $0.hasSuffix("[tcp/8000-8100]") })
        // 8 blocks around 10.80.5.0/24 × 3 port ranges + 4 ranges inside it; the udp deny cut nothing.
        #expect(web.count == 28 && web.contains("10.80.0.0/22[tcp/8000-8100]") && web.contains("10.80.6.0/23[tcp/80]"), "\(web)")
        #expect(ts("all-tcp") == ["10.81.0.0/24[tcp/0-21]", "10.81.0.0/24[tcp/23-65535]"])
        #expect(ts("everything") == ["10.82.0.0/25"])
        #expect(plan.narrowed.count == 1 && plan.narrowed[0].contains("everything") && plan.narrowed[0].contains("no-icmp"))
        let v6 = ts("v6")
        #expect(v6.count == 16 && !v6.contains("2001:db8:5:ff::/64") && v6.contains("2001:db8:5:fe::/64") && v6.contains("2001:db8:5:8000::/49"))
        #expect(plan.skipped.isEmpty, "\(plan.skipped)")
    }

    @Test("a child's name changes when a carve-out changes its selectors; too many selectors fail closed")
    func carvingLimits() {
        let open = TunnelPlan(policy: policy([destination("net", "10.90.0.0/16")]), at: now)
        let carved = TunnelPlan(policy: policy([destination("net", "10.90.0.0/16"), destination("hole", "10.90.7.0/24", action: "deny")]), at: now)
        #expect(open.children.map(\.name) != carved.children.map(\.name), "the old, wider CHILD_SA must be replaced")
        let holes = (0..<40).map { destination("h\($0)", "10.91.\($0 * 4).7/32", action: "deny") }
        let many = TunnelPlan(policy: policy([destination("big", "10.91.0.0/16")] + holes), at: now)
        #expect(many.children.isEmpty)
        #expect(many.skipped.count == 1 && many.skipped[0].contains("at most \(TunnelPlan.maximumSelectors)"), "\(many.skipped)")
    }

    @Test("CIDR subtraction covers exactly the difference")
    func subtraction() throws {
        let net = try #require(CIDR("192.168.0.0/24"))
        let hole = try #require(CIDR("192.168.0.77/32"))
        let parts = net.subtracting(hole)
        #expect(parts.count == 8)
        #expect(addresses(parts.map(\.description)).count == 255)
        #expect(!addresses(parts.map(\.description)).contains(UInt32(192) << 24 | UInt32(168) << 16 | 77))
        #expect(hole.subtracting(net).isEmpty)
        #expect(net.subtracting(try #require(CIDR("10.0.0.0/8"))) == [net])
        #expect(net.contains(hole) && !hole.contains(net) && net.overlaps(hole))
        #expect(!net.contains(try #require(CIDR("2001:db8::/32"))))
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
