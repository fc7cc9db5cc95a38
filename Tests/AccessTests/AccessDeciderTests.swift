@testable import Access
import Directory
import Foundation
import LDAPClient
import Testing

func rule(_ network: String, _ proto: String = "any", ports: [String] = [], action: String = "allow",
          notBefore: Date? = nil, notAfter: Date? = nil, name: String? = nil, org: String = "1001") throws -> AccessRule {
    let destination = Destination(name: name ?? "\(network)-\(proto)-\(action)", orgNumber: org, network: try IPNetwork(parsing: network),
                                  protocol: proto, ports: try ports.map { try PortRange(parsing: $0) },
                                  notBefore: notBefore, notAfter: notAfter, action: action)
    return try AccessRule(dn: DirectoryLayout().destination(org, destination.name).string, destination: destination)
}

func decide(_ rules: [AccessRule], _ address: String, _ proto: AccessProtocol, _ port: Int? = nil, now: Date = Date()) -> AddressDecision {
    AccessDecider.decide(address: IPAddress(address)!, query: AccessQuery(protocol: proto, port: port), candidates: rules, now: now)
}

@Suite("Access decision rule")
struct AccessDeciderTests {
    @Test("longest prefix wins; deny beats allow at equal length; a longer allow beats a shorter deny")
    func precedence() throws {
        let rules = [try rule("10.0.0.0/8"), try rule("10.1.0.0/16", "tcp", ports: ["22"], action: "deny"),
                     try rule("10.1.0.0/16", "tcp", ports: ["22"]), try rule("10.1.2.3/32", "tcp", ports: ["22"])]
        #expect(decide(rules, "10.9.9.9", .tcp, 22).allow)
        let denied = decide(rules, "10.1.9.9", .tcp, 22)
        #expect(!denied.allow && denied.rule?.destination.action == "deny" && denied.reason == "denied by 10.1.0.0/16 tcp/22")
        #expect(decide(rules, "10.1.2.3", .tcp, 22).allow)
        #expect(decide(rules, "10.1.9.9", .tcp, 443).allow, "the /16 rules do not speak about 443: the /8 decides")
        #expect(decide(rules, "10.1.9.9", .tcp, 443).rule?.prefixLength == 8)
        #expect(!decide(rules, "11.0.0.1", .tcp, 22).allow)
        #expect(decide(rules, "11.0.0.1", .tcp, 22).reason == "no destination matches")
    }

    @Test("the answer does not depend on the order of the candidates")
    func orderIndependent() throws {
        let rules = [try rule("10.0.0.0/16", name: "b"), try rule("10.0.0.0/16", name: "a"), try rule("10.0.0.0/16", action: "deny", name: "d"),
                     try rule("10.0.0.0/16", action: "deny", name: "c")]
        let answers = Set((0..<20).map { _ in decide(rules.shuffled(), "10.0.1.1", .udp, 53).rule?.destination.name })
        #expect(answers == ["c"])
        let allows = [try rule("10.0.0.0/16", name: "b"), try rule("10.0.0.0/16", name: "a")]
        #expect(Set((0..<20).map { _ in decide(allows.shuffled(), "10.0.1.1", .udp, 53).rule?.destination.name }) == ["a"])
    }

    @Test("protocols and ports: allow rules must cover the question, deny rules only touch it")
    func protocols() throws {
        let rules = [try rule("10.0.0.0/16", "tcp", ports: ["443", "8000-8100"]), try rule("10.0.0.0/24", "udp", ports: ["53"], action: "deny")]
        #expect(decide(rules, "10.0.5.1", .tcp, 443).allow)
        #expect(decide(rules, "10.0.5.1", .tcp, 8100).allow)
        #expect(!decide(rules, "10.0.5.1", .tcp, 8101).allow)
        #expect(!decide(rules, "10.0.5.1", .udp, 443).allow)
        #expect(!decide(rules, "10.0.5.1", .any).allow, "tcp/443 does not allow all traffic")
        #expect(!decide(rules, "10.0.0.1", .any).allow && decide(rules, "10.0.0.1", .any).rule != nil, "the udp/53 deny touches any traffic")
        #expect(!decide(rules, "10.0.0.1", .icmp).allow)
        let all = [try rule("10.0.0.0/16")]
        #expect(decide(all, "10.0.0.1", .any).allow && decide(all, "10.0.0.1", .esp).allow && decide(all, "10.0.0.1", .tcp, 1).allow)
        let tcpAll = [try rule("10.0.0.0/16", "tcp")]
        #expect(decide(tcpAll, "10.0.0.1", .tcp, 0).allow && !decide(tcpAll, "10.0.0.1", .udp, 1).allow)
    }

    @Test("validity: expired and not-yet-valid entries do not count, and they bound the ttl")
    func validity() throws {
        let now = Date(timeIntervalSince1970: 2_000_000_000)
        let rules = [try rule("10.0.0.0/16", notAfter: now.addingTimeInterval(-1), name: "old"),
                     try rule("10.0.0.0/8", action: "deny", name: "wide-deny"),
                     try rule("10.1.0.0/16", notBefore: now.addingTimeInterval(30), name: "soon"),
                     try rule("10.2.0.0/16", notBefore: now.addingTimeInterval(-10), notAfter: now.addingTimeInterval(90), name: "window")]
        let expired = decide(rules, "10.0.0.1", .any, now: now)
        #expect(!expired.allow && expired.rule?.destination.name == "wide-deny")
        #expect(decide([rules[0]], "10.0.0.1", .any, now: now).reason.contains("old, 10.0.0.0/16 any, is expired"))
        #expect(decide([rules[2]], "10.1.0.1", .any, now: now).reason.contains("is not valid yet"))
        #expect(decide(rules, "10.1.0.1", .any, now: now).changesAt == now.addingTimeInterval(30))
        let window = decide(rules, "10.2.0.1", .any, now: now)
        #expect(window.allow && window.changesAt == now.addingTimeInterval(90))
        #expect(!decide(rules, "10.2.0.1", .any, now: now.addingTimeInterval(90)).allow, "notAfter is exclusive")
        #expect(decide(rules, "10.1.0.1", .any, now: now.addingTimeInterval(30)).allow, "notBefore is inclusive")
    }

    @Test("address families stay apart: ::/0 does not match IPv4, IPv4-mapped IPv6 text is IPv4")
    func families() throws {
        let rules = [try rule("::/0"), try rule("2001:db8::/32", "udp", ports: ["500"], action: "deny")]
        #expect(!decide(rules, "10.0.0.1", .any).allow)
        #expect(decide(rules, "2001:db9::1", .tcp, 1).allow)
        #expect(!decide(rules, "2001:db8::1", .udp, 500).allow)
        let v4 = [try rule("10.0.0.0/8")]
        #expect(decide(v4, "::ffff:10.1.2.3", .any).allow)
        #expect(!decide(v4, "::a01:203", .any).allow, "an IPv4-compatible (not mapped) address is IPv6")
    }

    @Test("several addresses: allowed only if all are; the first refused one explains")
    func severalAddresses() throws {
        let policy = TenantPolicy(org: "1001", rules: [try rule("10.0.0.0/8")])
        let both = policy.decide(addresses: [IPAddress("10.0.0.1")!, IPAddress("11.0.0.1")!], query: AccessQuery(protocol: .any), now: Date())
        #expect(!both.allow && both.reason == "11.0.0.1: no destination matches" && both.addresses.count == 2)
        let none = AccessDecision([])
        #expect(!none.allow)
    }
}

@Suite("Tenant policy index")
struct TenantPolicyTests {
    @Test("the prefix tables find exactly the rules whose network contains the address")
    func candidatesMatchBruteForce() throws {
        var rules: [AccessRule] = []
        for index in 0..<300 {
            let v4 = index % 2 == 0
            let length = v4 ? Int.random(in: 0...32) : Int.random(in: 0...128)
            let text = v4 ? "10.\(Int.random(in: 0...3)).\(Int.random(in: 0...255)).\(Int.random(in: 0...255))"
                          : "2001:db8:\(String(Int.random(in: 0...3), radix: 16))::\(String(Int.random(in: 0...65535), radix: 16))"
            let address = IPAddress(text)!
            let network = try IPNetwork(parsing: "\(masked(address, length))/\(length)")
            rules.append(try rule(network.description, name: "r\(index)"))
        }
        let policy = TenantPolicy(org: "1001", rules: rules)
        for _ in 0..<500 {
            let text = Bool.random() ? "10.\(Int.random(in: 0...3)).\(Int.random(in: 0...255)).\(Int.random(in: 0...255))"
                                     : "2001:db8:\(String(Int.random(in: 0...3), radix: 16))::\(String(Int.random(in: 0...65535), radix: 16))"
            let address = IPAddress(text)!
            let expected = Set(rules.filter { $0.destination.network.contains(address) }.map(\.dn))
            #expect(Set(policy.candidates(for: address).map(\.dn)) == expected, "\(address)")
        }
    }

    func masked(_ address: IPAddress, _ length: Int) -> String {
        let total = address.isIPv4 ? length + 96 : length
        let key = Address128(address).masked(total)
        var bytes: [UInt8] = []
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: key.high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: key.low >> UInt64(shift))) }
        if address.isIPv4 { return bytes[12...].map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    @Test("the version depends on content only")
    func version() throws {
        let a = try rule("10.0.0.0/8"), b = try rule("2001:db8::/32", "udp", ports: ["53"])
        #expect(TenantPolicy(org: "1", rules: [a, b]).version == TenantPolicy(org: "1", rules: [b, a]).version)
        #expect(TenantPolicy(org: "1", rules: [a]).version != TenantPolicy(org: "1", rules: [a, b]).version)
        let denied = try rule("10.0.0.0/8", action: "deny", name: a.destination.name)
        #expect(TenantPolicy(org: "1", rules: [a]).version != TenantPolicy(org: "1", rules: [denied]).version)
        #expect(TenantPolicy.empty("1").version == TenantPolicy.empty("2").version)
    }

    @Test("the destinations JSON lists every field and escapes text")
    func json() throws {
        let destination = Destination(name: "quote\"back\\slash", orgNumber: "1001", network: try IPNetwork(parsing: "10.0.0.0/8"),
                                      protocol: "tcp", ports: [try PortRange(parsing: "443"), try PortRange(parsing: "8000-8100")],
                                      notAfter: Date(timeIntervalSince1970: 1_767_225_600), description: "line\nbreak")
        let policy = TenantPolicy(org: "1001", rules: [try AccessRule(dn: "cn=x,ou=destinations", destination: destination)])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(policy.destinationsJSON.utf8)) as? [[String: Any]])
        #expect(parsed.count == 1)
        #expect(parsed[0]["name"] as? String == "quote\"back\\slash")
        #expect(parsed[0]["description"] as? String == "line\nbreak")
        #expect(parsed[0]["ports"] as? [String] == ["443", "8000-8100"])
        #expect(parsed[0]["notAfter"] as? String == "2026-01-01T00:00:00Z")
        #expect(parsed[0]["notBefore"] is NSNull)
    }
}

@Suite("Access request parsing")
struct CheckRequestTests {
    func field(_ json: String) -> String? {
        do throws(AccessAPIError) {
            _ = try CheckRequest.decode(Array(json.utf8))
            return nil
        } catch {
            return error.field ?? error.code
        }
    }

    @Test("valid requests")
    func valid() throws {
        let request = try CheckRequest.decode(Array("{\"source\":\"10.10.1.7\",\"destination\":\"10.20.3.4\",\"protocol\":\"TCP\",\"port\":443}".utf8))
        #expect(request.address == IPAddress("10.20.3.4") && request.query == AccessQuery(protocol: .tcp, port: 443))
        #expect(request.source == IPAddress("10.10.1.7"))
        let name = try CheckRequest.decode(Array("{\"destination\":\"Intranet.Example.NET\"}".utf8))
        #expect(name.address == nil && name.destination == "intranet.example.net" && name.query.protocol == .any)
        let icmp = try CheckRequest.decode(Array("{\"destination\":\"2001:db8::1\",\"protocol\":\"icmp\",\"port\":7}".utf8))
        #expect(icmp.query.port == nil, "ports only apply to tcp and udp")
    }

    @Test("each bad field is named")
    func invalid() {
        #expect(field("{\"destination\":\"10.0.0.256\"}") == "destination")
        #expect(field("{\"destination\":\"-bad-.example\"}") == "destination")
        #expect(field("{\"destination\":\"1.2.3\"}") == "destination")
        #expect(field("{\"destination\":\"a\\u0000b\"}") == "destination")
        #expect(field("{\"destination\":12}") == "destination")
        #expect(field("{\"destination\":\"10.0.0.1\",\"protocol\":\"sctp\"}") == "protocol")
        #expect(field("{\"destination\":\"10.0.0.1\",\"protocol\":\"udp\"}") == "port")
        #expect(field("{\"destination\":\"10.0.0.1\",\"protocol\":\"udp\",\"port\":-1}") == "port")
        #expect(field("{\"destination\":\"10.0.0.1\",\"protocol\":\"udp\",\"port\":1.5}") == "port")
        #expect(field("{\"destination\":\"10.0.0.1\",\"source\":\"x\"}") == "source")
        #expect(field("not json") == "malformed-json")
        #expect(field("\"a string\"") == "malformed-json")
        #expect(field("") == "malformed-json")
    }

    @Test("batches: limit and per-item field names")
    func batches() {
        #expect(throws: AccessAPIError.self) { try CheckRequest.decodeBatch(Array("{\"checks\":5}".utf8), limit: 2) }
        do throws(AccessAPIError) {
            _ = try CheckRequest.decodeBatch(Array("{\"checks\":[{\"destination\":\"10.0.0.1\"},{\"destination\":\"10.0.0.1\",\"port\":\"x\"}]}".utf8), limit: 4)
            Issue.record("accepted a bad port")
        } catch {
            #expect(error.field == "checks[1].port", "\(error)")
        }
        #expect((try? CheckRequest.decodeBatch(Array("{\"checks\":[{\"destination\":\"10.0.0.1\"},{\"destination\":\"10.0.0.2\"},{\"destination\":\"10.0.0.3\"}]}".utf8), limit: 2)) == nil)
    }

    @Test("host names")
    func hostNames() {
        #expect(HostResolver.isHostName("localhost") && HostResolver.isHostName("a-b.example.org.") && HostResolver.isHostName("xn--bcher-kva.de"))
        #expect(!HostResolver.isHostName("bad host") && !HostResolver.isHostName("a..b") && !HostResolver.isHostName("1.2.3.4")
                && !HostResolver.isHostName(String(repeating: "a", count: 64) + ".com") && !HostResolver.isHostName("under_score.com"))
    }

    @Test("If-None-Match")
    func ifNoneMatch() {
        #expect(AccessController.matches("\"abc\"", "abc") && AccessController.matches("W/\"abc\"", "abc")
                && AccessController.matches("\"x\", \"abc\"", "abc") && AccessController.matches("*", "abc"))
        #expect(!AccessController.matches("\"abcd\"", "abc") && !AccessController.matches("abc", "abc"))
    }
}

@Suite("Replica bookkeeping (RFC 4533 phases) and DN layout")
struct ReplicaBuilderTests {
    func uuid(_ n: UInt8) -> ReplicaBuilder.UUID {
        let bytes = [UInt8](repeating: 0, count: 15) + [n]
        return bytes.withUnsafeBytes { ReplicaBuilder.UUID($0)! }
    }

    func entry(_ name: String, _ network: String, org: String = "1001") throws -> LDAPEntry {
        let parsed = try IPNetwork(parsing: network)
        return LDAPEntry(dn: DistinguishedName("cn=\(name),ou=destinations,tgOrgNumber=\(org),ou=subscribers,dc=tollgate"), attributes: [
            "objectClass": [Data("tgDestination".utf8)], "cn": [Data(name.utf8)], "tgOrgNumber": [Data(org.utf8)],
            "tgNetwork": [Data(network.utf8)], "tgAddressFrom": [Data(parsed.first.hex.utf8)], "tgAddressTo": [Data(parsed.last.hex.utf8)],
            "tgProtocol": [Data("any".utf8)]])
    }

    @Test("a present phase removes what was not mentioned; a delete phase removes only what was deleted")
    func phases() throws {
        let builder = ReplicaBuilder(suffix: "dc=tollgate") { _ in }
        builder.beginRefresh()
        for n in UInt8(1)...3 { builder.upsert(uuid(n), try entry("d\(n)", "10.\(n).0.0/16")) }
        builder.endPhase(present: true)
        builder.endRefresh()
        #expect(builder.takeUpdate().tenants["1001"]?.rules.count == 3)
        // Reconnect, delete phase: d2 deleted explicitly, nothing else goes.
        builder.beginRefresh()
        builder.remove(uuid(2))
        builder.endPhase(present: false)
        builder.endRefresh()
        #expect(builder.takeUpdate().tenants["1001"]?.rules.map(\.destination.name).sorted() == ["d1", "d3"])
        // Reconnect, present phase: d1 present, d4 added, d3 not mentioned: gone.
        builder.beginRefresh()
        builder.present(uuid(1))
        builder.upsert(uuid(4), try entry("d4", "10.4.0.0/16"))
        builder.endPhase(present: true)
        builder.endRefresh()
        #expect(builder.takeUpdate().tenants["1001"]?.rules.map(\.destination.name).sorted() == ["d1", "d4"])
        // Persist phase: a modify that moves an entry to another tenant.
        builder.upsert(uuid(4), try entry("d4", "10.4.0.0/16", org: "1002"))
        let moved = builder.takeUpdate()
        #expect(moved.tenants["1001"]?.rules.map(\.destination.name) == ["d1"] && moved.tenants["1002"]?.rules.count == 1)
        #expect(builder.takeUpdate().isEmpty)
    }

    @Test("entries are placed by DN: wrong containers and malformed entries are ignored")
    func placement() throws {
        var problems: [String] = []
        let builder = ReplicaBuilder(suffix: "dc=tollgate") { problems.append($0) }
        var misplaced = try entry("x", "10.0.0.0/8")
        misplaced.dn = DistinguishedName("cn=x,ou=converters,tgOrgNumber=1001,ou=subscribers,dc=tollgate")
        builder.upsert(uuid(1), misplaced)
        var nested = try entry("y", "10.0.0.0/8")
        nested.dn = DistinguishedName("cn=y,cn=z,ou=destinations,tgOrgNumber=1001,ou=subscribers,dc=tollgate")
        builder.upsert(uuid(2), nested)
        var broken = try entry("b", "10.0.0.0/8")
        broken.append("tgPortRange", [Data("22".utf8)])  // ports on protocol any
        builder.upsert(uuid(3), broken)
        var upper = try entry("u", "10.9.0.0/16")
        upper.dn = DistinguishedName("CN=u,OU=Destinations,TGORGNUMBER=1001,OU=Subscribers,DC=Tollgate")
        builder.upsert(uuid(4), upper)
        let update = builder.takeUpdate()
        #expect(update.tenants["1001"]?.rules.map(\.destination.name) == ["u"])
        #expect(problems.count == 1 && problems[0].contains("ports on protocol any"))
    }

    @Test("DN parsing handles escapes and case")
    func locations() {
        let suffix = RDN.parse("dc=tollgate")!
        #expect(EntryLocation(dn: "cn=a\\,b,ou=destinations,tgOrgNumber=7,ou=subscribers,dc=tollgate", suffix: suffix)
                == .tenant(org: "7", container: "destinations", name: "a,b"))
        #expect(EntryLocation(dn: "tgCertificateSerial=ABC,ou=revoked,ou=pki,dc=tollgate", suffix: suffix) == .revoked(serial: "abc"))
        #expect(EntryLocation(dn: "tgOrgNumber=1002,ou=subscribers,dc=tollgate", suffix: suffix) == .subscriber(org: "1002"))
        #expect(EntryLocation(dn: "cn=a+sn=b,ou=destinations,tgOrgNumber=7,ou=subscribers,dc=tollgate", suffix: suffix) == .elsewhere)
        #expect(EntryLocation(dn: "cn=a,ou=destinations,tgOrgNumber=7,ou=subscribers,dc=other", suffix: suffix) == .elsewhere)
    }
}

@Suite("JSON parser of the access API")
struct JSONValueTests {
    func parse(_ text: String) -> JSONValue? { try? JSONValue.parse(Array(text.utf8)) }

    @Test("values, escapes and surrogate pairs")
    func values() {
        #expect(parse(" {\"a\": [1, -2.5e3, true, false, null, \"x\"], \"b\": {}} ")
                == .object(["a": .array([.number(1), .number(-2500), .bool(true), .bool(false), .null, .string("x")]), "b": .object([:])]))
        #expect(parse("\"q\\\"b\\\\s\\/n\\n\\t\\u00e9\\ud83d\\ude00\"") == .string("q\"b\\s/n\n\té😀"))
        #expect(parse("\"ünïcödé\"") == .string("ünïcödé"))
        #expect(parse("0") == .number(0) && parse("[]") == .array([]))
    }

    @Test("malformed text is refused with the place")
    func malformed() {
        for text in ["", "{", "{\"a\":}", "{\"a\" 1}", "{a:1}", "[1,]", "[1 2]", "01", "1.", "-", "1e", "tru", "nul",
                     "\"unterminated", "\"bad \\x escape\"", "\"\\ud800 lone\"", "\"\\udc00\"", "\"tab\there\"", "{} {}",
                     String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "1e400"] {
            #expect(parse(text) == nil, "\(text)")
        }
        #expect(throws: JSONValue.SyntaxError.self) { try JSONValue.parse([0x22, 0xff, 0x22]) }
        do {
            _ = try JSONValue.parse(Array("{\"a\":1,}".utf8))
        } catch {
            #expect(error.offset == 7, "\(error)")
        }
    }
}
