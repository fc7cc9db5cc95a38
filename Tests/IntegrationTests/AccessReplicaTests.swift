import Access
import Directory
import Foundation
import LDAPClient
import ManagedSlapd
import Testing

/// The RFC 4533 replica against a real slapd: it agrees with direct LDAP searches, it
/// follows changes, and slapd's ACLs confine what an identity can synchronise.
@Suite("Access replica (RFC 4533) and direct LDAP decisions")
struct AccessReplicaTests {
    /// A replica of `slapd` as the service account (SASL EXTERNAL over ldapi), synchronised.
    func serviceReplica(_ slapd: ManagedSlapd) async throws -> (PolicyReplica, ContentSyncSession) {
        let replica = PolicyReplica(staleBound: 60)
        let session = ContentSyncSession(configuration: LDAPConfiguration(url: slapd.ldapiURL, credentials: .saslExternal),
                                         replica: replica)
        session.start()
        let synced = await waitUntil(seconds: 10) { replica.hasSynced }
        try #require(synced != nil, "the replica did not finish its first refresh")
        return (replica, session)
    }

    /// Random destinations in a small space, so that networks overlap a lot.
    func randomDestinations(org: String, count: Int, generator: inout some RandomNumberGenerator) throws -> [Destination] {
        let v4Lengths = [12, 16, 20, 24, 28, 30, 32], v6Lengths = [32, 48, 56, 64, 96, 120, 128]
        let ports: [[PortRange]] = [[], [try PortRange(parsing: "443")], [try PortRange(parsing: "22")],
                                    [try PortRange(parsing: "8000-8100")], [try PortRange(parsing: "53"), try PortRange(parsing: "443")]]
        let now = Date()
        var out: [Destination] = []
        for index in 0..<count {
            let ipv4 = Bool.random(using: &generator)
            let length = ipv4 ? v4Lengths.randomElement(using: &generator)! : v6Lengths.randomElement(using: &generator)!
            let text = ipv4 ? "10.\(Int.random(in: 0...1, using: &generator)).\(Int.random(in: 0...3, using: &generator)).\(Int.random(in: 0...7, using: &generator) * 32)"
                            : "2001:db8:\(Int.random(in: 0...1, using: &generator)):\(Int.random(in: 0...2, using: &generator))::\(Int.random(in: 0...3, using: &generator))"
            let network = try Self.network(text, length)
            let proto = ["tcp", "udp", "icmp", "esp", "any"].randomElement(using: &generator)!
            let portList = ["tcp", "udp"].contains(proto) ? ports.randomElement(using: &generator)! : []
            let roll = Int.random(in: 0..<100, using: &generator)
            let notBefore: Date? = roll < 10 ? now.addingTimeInterval(86_400 * 30) : (roll < 20 ? now.addingTimeInterval(-86_400 * 60) : nil)
            let notAfter: Date? = roll >= 10 && roll < 20 ? now.addingTimeInterval(-86_400) : (roll >= 90 ? now.addingTimeInterval(86_400) : nil)
            out.append(Destination(name: "r-\(index)", orgNumber: org, network: network, protocol: proto, ports: portList,
                                   notBefore: notBefore, notAfter: notAfter,
                                   action: Int.random(in: 0..<100, using: &generator) < 30 ? "deny" : "allow"))
        }
        return out
    }

    /// The network of `length` bits containing `text`.
    static func network(_ text: String, _ length: Int) throws -> IPNetwork {
        let address = try #require(IPAddress(text))
        let total = address.isIPv4 ? length + 96 : length
        var bytes = address.bytes
        for i in 0..<16 {
            let bits = max(0, min(8, total - i * 8))
            bytes[i] &= bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
        let masked: String
        if address.isIPv4 {
            masked = bytes[12...].map(String.init).joined(separator: ".")
        } else {
            masked = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
        return try IPNetwork(parsing: "\(masked)/\(length)")
    }

    /// A random question near the rules' networks.
    func randomQuestion(generator: inout some RandomNumberGenerator) -> (IPAddress, AccessQuery) {
        // Mostly inside the rules' space, sometimes next to it (where nothing matches).
        let near = Int.random(in: 0..<10, using: &generator) < 8
        let text = Bool.random(using: &generator)
            ? "\(near ? 10 : 11).\(Int.random(in: 0...1, using: &generator)).\(Int.random(in: 0...3, using: &generator)).\(Int.random(in: 0...255, using: &generator))"
            : "2001:\(near ? "db8" : "db9"):\(Int.random(in: 0...1, using: &generator)):\(Int.random(in: 0...2, using: &generator))::\(Int.random(in: 0...5, using: &generator))"
        let proto = AccessProtocol.allCases.randomElement(using: &generator)!
        let port = [22, 53, 443, 8050, 9999].randomElement(using: &generator)!
        return (IPAddress(text)!, AccessQuery(protocol: proto, port: port))
    }

    /// The tenant's policy as a direct LDAP listing gives it (the version the replica must reach).
    func directPolicy(_ client: LDAPClient, org: String) async throws -> TenantPolicy {
        let entries = try await client.search(base: DirectoryLayout().destinations(org), scope: .oneLevel,
                                              filter: .equal("objectClass", "tgDestination"), attributes: AccessRule.attributeNames)
        return TenantPolicy(org: org, rules: entries.compactMap { try? AccessRule(entry: $0) })
    }

    /// Compares replica and direct-LDAP decisions on `count` random questions; returns
    /// (allowed, denied by a rule, denied by no match) counts.
    func compare(_ replica: PolicyReplica, _ direct: DirectAccessCheck, org: String, count: Int,
                 generator: inout some RandomNumberGenerator) async throws -> (Int, Int, Int) {
        var tally = (0, 0, 0)
        let now = Date()
        for _ in 0..<count {
            let (address, query) = randomQuestion(generator: &generator)
            let fromReplica = replica.policy(org).decide(addresses: [address], query: query, now: now)
            let fromLDAP = try await direct.decide(org: org, addresses: [address], query: query, now: now)
            #expect(fromReplica.allow == fromLDAP.allow && fromReplica.rule == fromLDAP.rule && fromReplica.reason == fromLDAP.reason,
                    "\(address) \(query.description): replica \(fromReplica.allow) \(fromReplica.reason) \(fromReplica.rule ?? "-") / LDAP \(fromLDAP.allow) \(fromLDAP.reason) \(fromLDAP.rule ?? "-")")
            if fromLDAP.allow { tally.0 += 1 } else if fromLDAP.rule != nil { tally.1 += 1 } else { tally.2 += 1 }
        }
        return tally
    }

    @Test("replica decisions equal direct LDAP decisions on a randomized matrix, before and after changes")
    func crossCheck() async throws {
        let slapd = try await SharedSlapd.get()
        let client = slapd.client()
        let store = DirectoryStore(client: client)
        let org = uniqueOrgNumber()
        try await store.addSubscriber(Subscriber(orgNumber: org, subscriberId: "\(org)-01", name: "Cross Check", mail: "x@test.example"))
        var generator = SystemRandomNumberGenerator()
        let destinations = try randomDestinations(org: org, count: 60, generator: &generator)
        for destination in destinations { try await store.addDestination(destination) }
        // An entry whose stored range disagrees with its network: neither path may use it.
        try await client.add(DirectoryLayout().destination(org, "inconsistent"), attributes: [
            ("objectClass", ["tgDestination"]), ("cn", ["inconsistent"]), ("tgOrgNumber", [org]), ("tgNetwork", ["10.0.0.0/8"]),
            ("tgAddressFrom", ["00000000000000000000ffff0a000000"]), ("tgAddressTo", ["00000000000000000000ffff0a0000ff"]),
            ("tgProtocol", ["any"])])

        let (replica, session) = try await serviceReplica(slapd)
        defer { session.stop() }
        let direct = DirectAccessCheck(client: client)
        var expected = try await directPolicy(client, org: org)
        #expect(expected.rules.count == 60, "the inconsistent entry is left out")
        let caughtUp = await waitUntil(seconds: 10) { replica.policy(org).version == expected.version }
        try #require(caughtUp != nil, "the replica never reached the directory's content")
        let first = try await compare(replica, direct, org: org, count: 250, generator: &generator)
        #expect(first.0 > 5 && first.1 > 5 && first.2 > 5, "the sample exercises allow, deny-by-rule and no-match: \(first)")

        // Changes: delete 15, modify 15 (action and ports), add 15; the replica follows.
        for destination in destinations.prefix(15) { try await store.removeDestination(orgNumber: org, name: destination.name) }
        for destination in destinations.dropFirst(15).prefix(15) {
            let dn = DirectoryLayout().destination(org, destination.name)
            try await client.modify(dn, [.replace("tgAction", [destination.action == "deny" ? "allow" : "deny"])])
            if ["tcp", "udp"].contains(destination.protocol) { try await client.modify(dn, [.replace("tgPortRange", ["8050"])]) }
        }
        for var destination in try randomDestinations(org: org, count: 15, generator: &generator) {
            destination.name = "added-" + destination.name
            try await store.addDestination(destination)
        }
        expected = try await directPolicy(client, org: org)
        #expect(expected.rules.count == 60)
        let followed = await waitUntil(seconds: 10) { replica.policy(org).version == expected.version }
        try #require(followed != nil, "the replica did not follow the changes")
        let second = try await compare(replica, direct, org: org, count: 150, generator: &generator)
        #expect(second.0 + second.1 + second.2 == 150)
        // Removing the tenant empties its policy.
        try await store.removeSubscriber(org)
        let emptied = await waitUntil(seconds: 10) { replica.policy(org).rules.isEmpty }
        #expect(emptied != nil)
        await client.close()
    }

    @Test("slapd ACLs confine synchronisation: a subscriber replicates only its own tenant, anonymous nothing; converters cannot bind")
    func aclConfinesSync() async throws {
        let slapd = try await SharedSlapd.get()
        let layout = DirectoryLayout()
        let as1001 = LDAPConfiguration(url: slapd.ldapURL, credentials: .simple(dn: layout.subscriber("1001"), password: "demo-signature-1001"))
        // Tenant 1001 synchronising its own subtree gets its own destinations.
        let replica = PolicyReplica(staleBound: 60)
        let session = ContentSyncSession(configuration: as1001, replica: replica, base: layout.subscriber("1001"))
        session.start()
        defer { session.stop() }
        #expect(await waitUntil(seconds: 10) { replica.hasSynced } != nil)
        #expect(await waitUntil(seconds: 5) { replica.policy("1001").rules.count >= 4 } != nil)
        #expect(replica.policy("1001").rules.allSatisfy { $0.dn.lowercased().hasSuffix("tgorgnumber=1001,ou=subscribers,dc=tollgate") })
        // Tenant 1001 synchronising from the suffix or from tenant 1002 gets nothing:
        // slapd answers noSuchObject, and the replica never has a state to answer from.
        for base in [layout.suffix, layout.subscriber("1002"), layout.destinations("1002")] {
            let other = PolicyReplica(staleBound: 60)
            let probe = ContentSyncSession(configuration: as1001, replica: other, base: base)
            probe.start()
            let refused = await waitUntil(seconds: 10) {
                if case .unavailable(let why) = other.freshness(), why.contains("No such object") { return true }
                return false
            }
            probe.stop()
            #expect(refused != nil, "\(base): \(other.freshness())")
            #expect(!other.hasSynced && other.policy("1002").rules.isEmpty && other.tenantCount == 0)
        }
        // Anonymous: nothing either.
        let anonymousReplica = PolicyReplica(staleBound: 60)
        let anonymous = ContentSyncSession(configuration: LDAPConfiguration(url: slapd.ldapURL), replica: anonymousReplica)
        anonymous.start()
        let anonymousRefused = await waitUntil(seconds: 10) {
            if case .unavailable(let why) = anonymousReplica.freshness(), why.contains("No such object") { return true }
            return false
        }
        anonymous.stop()
        #expect(anonymousRefused != nil && anonymousReplica.tenantCount == 0)

        // A converter entry has no password: binding as it fails, so converters never
        // reach LDAP themselves (they ask the access API).
        let asConverter = LDAPClient(configuration: LDAPConfiguration(
            url: slapd.ldapURL, credentials: .simple(dn: layout.converter("1001", "conv-a"), password: "anything-at-all"),
            maximumConnections: 1, reconnectWindow: 0))
        let bind = await #expect(throws: LDAPError.self) {
            try await asConverter.search(base: layout.destinations("1002"), filter: .present("objectClass"))
        }
        #expect(bind?.code == .invalidCredentials)
        await asConverter.close()
        // Tenant 1001 searching tenant 1002's destinations with the access filter sees nothing.
        let subscriber = LDAPClient(configuration: LDAPConfiguration(
            url: slapd.ldapURL, credentials: .simple(dn: layout.subscriber("1001"), password: "demo-signature-1001"), maximumConnections: 1))
        let found = try await searchOrEmpty(subscriber, base: layout.destinations("1002"), filter: DirectAccessCheck.filter(IPAddress("10.40.1.1")!))
        #expect(found.isEmpty)
        let own = try await subscriber.search(base: layout.destinations("1001"), filter: DirectAccessCheck.filter(IPAddress("10.20.3.4")!))
        #expect(own.map { $0["cn"] } == ["intranet-https"], "the same search works in its own tenant")
        await subscriber.close()
    }

    @Test("slapd stopped: answers are marked stale, refused with 503 after the bound, fresh again when slapd is back")
    func staleThenFailClosed() async throws {
        let server = try await SharedTollgate.start(["--demo", "--access-stale-seconds", "2"])
        defer { server.stop() }
        let convA = try await enrolConverter(server, org: "1001", converter: "conv-a", signature: "demo-signature-1001")
        let ready = try await waitUntil(seconds: 5) { try await check(server, as: convA, "10.20.3.4", "tcp", 443).bool("allow") == true }
        try #require(ready != nil)
        let stop = try await run(tollgateBinary, ["directory", "stop", "--data", server.data])
        #expect(stop.status == 0, "\(stop.output)")
        let stopped = ContinuousClock.now
        var staleAnswer: APIResponse?
        let stale = try await waitUntil(seconds: 5) {
            let answer = try await check(server, as: convA, "10.20.3.4", "tcp", 443)
            if answer.bool("stale") == true { staleAnswer = answer }
            return staleAnswer != nil
        }
        #expect(stale != nil, "answers are marked stale while slapd is down")
        #expect(staleAnswer?.bool("allow") == true, "from the last synced state: \(staleAnswer?.body ?? "")")
        #expect((staleAnswer?.int("ttl") ?? 99) <= 2, "the ttl does not reach past the stale bound")
        let policy = try await callAPI(server, "/v1/policy", as: convA)
        #expect(policy.status == 200 && policy.bool("stale") == true || policy.status == 503, "\(policy.body)")
        var closedAnswer: APIResponse?
        let closed = try await waitUntil(seconds: 10) {
            let answer = try await check(server, as: convA, "10.20.3.4", "tcp", 443)
            if answer.status == 503 { closedAnswer = answer }
            return closedAnswer != nil
        }
        #expect(closed != nil, "refused once the bound has passed")
        // The bound runs from the server's last contact with slapd, which is a little
        // before `stopped`: allow that much.
        #expect((ContinuousClock.now - stopped) >= .milliseconds(1500), "not before the bound")
        #expect(closedAnswer?.bool("allow") == false && closedAnswer?.string("error") == "directory-unavailable", "\(closedAnswer?.body ?? "")")
        #expect(try await callAPI(server, "/v1/policy", as: convA).status == 503)
        let start = try await run(tollgateBinary, ["directory", "start", "--data", server.data])
        #expect(start.status == 0, "\(start.output)")
        let back = try await waitUntil(seconds: 20) {
            let answer = try await check(server, as: convA, "10.20.3.4", "tcp", 443)
            return answer.status == 200 && answer.bool("stale") == false
        }
        #expect(back != nil, "fresh answers again after slapd returned")
    }
}
