import Directory
import Foundation
import LDAPClient
import ManagedSlapd
import Testing

/// Typed models through the directory layer, against slapd.
@Suite("Directory store against slapd")
struct DirectoryStoreTests {
    func store() async throws -> DirectoryStore {
        DirectoryStore(client: try await SharedSlapd.get().client())
    }

    func addTenant(_ store: DirectoryStore, name: String = "Test Org", signature: String? = "test-signature-0001") async throws -> String {
        let org = uniqueOrgNumber()
        try await store.addSubscriber(Subscriber(orgNumber: org, subscriberId: "\(org)-01", name: name, mail: "ops@test.example"),
                                      signature: signature)
        return org
    }

    @Test("the demo directory reads back as typed models")
    func demoTenants() async throws {
        let store = try await store()
        let demo = try #require(try await store.subscriber("1001"))
        #expect(demo.subscriberId == "1001-01")
        #expect(demo.mail == "noc@example.net")
        #expect(try await store.converters(orgNumber: "1001").map(\.name) == ["conv-a", "conv-b"])
        let destinations = try await store.destinations(orgNumber: "1001")
        let https = try #require(destinations.first { $0.name == "intranet-https" })
        #expect(https.network.description == "10.20.0.0/16")
        #expect(https.protocol == "tcp")
        #expect(https.ports.map(\.description) == ["443"])
        let host = try #require(destinations.first { $0.name == "fileserver" })
        #expect(host.network.description == "10.30.1.5/32")
        #expect(host.protocol == "any")
        #expect(host.ports.isEmpty)
    }

    @Test("subscriber, converter and destination CRUD round-trip")
    func crud() async throws {
        let store = try await store()
        let org = try await addTenant(store)
        let converter = Converter(name: "gw-1", orgNumber: org, address: try #require(IPAddress("2001:db8::10")),
                                  model: "strongswan", firmware: "5.9.8", ikeVersions: [2],
                                  ikeProposals: ["aes256-sha256-modp2048"], description: "rack 4")
        try await store.addConverter(converter)
        var read = try #require(try await store.converter(orgNumber: org, name: "gw-1"))
        #expect(read.address.description == "2001:db8::10")
        #expect(read.ikeProposals == ["aes256-sha256-modp2048"])
        #expect(read.converterId == "\(org)-gw-1")
        #expect(read.description == "rack 4")
        let destination = Destination(orgNumber: org, network: try IPNetwork(parsing: "192.168.10.0/24"), protocol: "udp",
                                      ports: [try PortRange(parsing: "500"), try PortRange(parsing: "4500-4510")],
                                      notAfter: Date(timeIntervalSince1970: 1_900_000_000))
        try await store.addDestination(destination)
        let stored = try #require(try await store.destination(orgNumber: org, name: destination.name))
        #expect(stored == destination)
        await #expect(throws: DirectoryError.self) { try await store.addConverter(converter) }
        try await store.removeConverter(orgNumber: org, name: "gw-1")
        #expect(try await store.converter(orgNumber: org, name: "gw-1") == nil)
        await #expect(throws: DirectoryError.self) { try await store.removeConverter(orgNumber: org, name: "gw-1") }
        // A converter for a tenant that does not exist names the missing tenant.
        read.orgNumber = "999999999999"
        let missing = await #expect(throws: DirectoryError.self) { try await store.addConverter(read) }
        #expect("\(missing.map { "\($0)" } ?? "")".contains("subscriber 999999999999"))
        try await store.removeSubscriber(org)
        #expect(try await store.subscriber(org) == nil)
        #expect(try await store.destinations(orgNumber: org).isEmpty)
    }

    @Test("invalid input is refused before it reaches slapd, naming the field")
    func validation() async throws {
        let store = try await store()
        let org = try await addTenant(store)
        let bad = Subscriber(orgNumber: uniqueOrgNumber(), subscriberId: "x", name: "n", mail: "*)(uid=*")
        let error = await #expect(throws: InvalidFieldError.self) { try await store.addSubscriber(bad) }
        #expect(error?.field == "subscriber.mail")
        let badOrg = await #expect(throws: InvalidFieldError.self) { try await store.converters(orgNumber: "1*") }
        #expect(badOrg?.field == "orgNumber")
        let ports = await #expect(throws: InvalidFieldError.self) {
            try await store.addDestination(Destination(orgNumber: org, network: try IPNetwork(parsing: "10.0.0.0/8"),
                                                       protocol: "icmp", ports: [try PortRange(parsing: "80")]))
        }
        #expect(ports?.field == "destination.ports")
        #expect(try await store.destinations(orgNumber: org).isEmpty, "nothing was written")
    }

    /// Injection strings from the issue, plus a few more, used as literal values.
    static let hostile = ["*)(uid=*", "\\00", ",cn=admin", "日本語 ü ☃", "a\\2a(b)", "x)(|(objectClass=*)", "cn=a+sn=b", "#lead", "*"]

    @Test("injection strings in every free field are stored and found literally, never widening a search", arguments: hostile)
    func injection(_ value: String) async throws {
        let store = try await store()
        let org = try await addTenant(store, name: value)
        #expect(try await store.subscriber(org)?.name == value)
        // A decoy converter that a widened filter would also match.
        try await store.addConverter(Converter(name: "decoy-\(org)", orgNumber: org, address: try #require(IPAddress("192.0.2.1"))))
        let converter = Converter(name: value, orgNumber: org, address: try #require(IPAddress("192.0.2.2")),
                                  model: value, firmware: nil, description: value)
        try await store.addConverter(converter)
        let read = try #require(try await store.converter(orgNumber: org, name: value))
        #expect(read.name == value)
        #expect(read.model == value)
        #expect(read.description == value)
        // Equality search across all tenants returns exactly the literal entry.
        let found = try await store.converters(named: value)
        #expect(found.map(\.orgNumber) == [org], "search for \(value) matched \(found.map { "\($0.orgNumber)/\($0.name)" })")
        let destination = Destination(name: value, orgNumber: org, network: try IPNetwork(parsing: "10.9.0.0/16"), description: value)
        try await store.addDestination(destination)
        #expect(try await store.destination(orgNumber: org, name: value) == destination)
        #expect(try await store.destinations(orgNumber: org).count == 1)
        // The DN stays under the tenant: the value did not become an RDN of its own.
        let entry = try #require(try await store.client.read(store.layout.converter(org, value)))
        #expect(entry.dn.string.lowercased().hasSuffix(",ou=converters,tgorgnumber=\(org),ou=subscribers,dc=tollgate"))
        try await store.removeSubscriber(org)
    }

    @Test("destination search by address: containment for IPv4 and IPv6, most specific first")
    func containment() async throws {
        let store = try await store()
        let org = try await addTenant(store)
        for (name, net) in [("wide", "10.0.0.0/8"), ("mid", "10.20.0.0/16"), ("host", "10.20.3.4/32"), ("v6", "2001:db8::/32"),
                            ("v6-narrow", "2001:db8:aa::/48"), ("other", "172.16.0.0/12")] {
            try await store.addDestination(Destination(name: name, orgNumber: org, network: try IPNetwork(parsing: net)))
        }
        func names(_ address: String) async throws -> [String] {
            try await store.destinations(orgNumber: org, containing: try #require(IPAddress(address))).map(\.name)
        }
        #expect(try await names("10.20.3.4") == ["host", "mid", "wide"])
        #expect(try await names("10.20.3.5") == ["mid", "wide"])
        #expect(try await names("10.99.0.1") == ["wide"])
        #expect(try await names("11.0.0.1") == [])
        #expect(try await names("2001:db8:aa::1") == ["v6-narrow", "v6"])
        #expect(try await names("2001:db9::1") == [])
        #expect(try await names("::ffff:10.20.3.4") == ["host", "mid", "wide"], "IPv4-mapped IPv6 text is IPv4")
        try await store.removeSubscriber(org)
    }

    @Test("history events are stored under the tenant and listed in order")
    func history() async throws {
        let store = try await store()
        let org = try await addTenant(store)
        let start = Date()
        for i in 0..<3 {
            try await store.record(HistoryEvent(type: "test.step", orgNumber: org, actor: "tester", data: "{\"i\":\(i)}"))
        }
        let events = try await store.history(orgNumber: org)
        #expect(events.map(\.data) == ["{\"i\":0}", "{\"i\":1}", "{\"i\":2}"])
        #expect(try await store.history(orgNumber: org, since: start.addingTimeInterval(3600)).isEmpty)
        try await store.removeSubscriber(org)
    }
}
