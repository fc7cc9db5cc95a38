@testable import Agent
import Foundation
import Testing

@Suite("Agent formats: policy JSON, swanctl raw output, endpoints, fingerprints")
struct AgentFormatTests {
    @Test("the policy answer of the access contract decodes, including null times and an unknown field")
    func policyJSON() throws {
        let json = """
        {"org":"1001","converter":"conv-a","version":"42","stale":false,"ttl":60,"extra":1,
         "destinations":[{"dn":"cn=intranet-https,ou=destinations,tgOrgNumber=1001,ou=subscribers,dc=tollgate","name":"intranet-https",
                          "network":"10.20.0.0/16","protocol":"tcp","ports":["443","8000-8080"],"action":"allow",
                          "notBefore":"2026-01-01T00:00:00Z","notAfter":null,"description":null},
                         {"dn":"cn=x,ou=destinations,tgOrgNumber=1001,ou=subscribers,dc=tollgate","name":"x","network":"2001:db8::/32",
                          "protocol":"any","ports":[],"action":"deny","notBefore":null,"notAfter":"2030-01-01T00:00:00.500Z"}]}
        """
        let policy = try JSONCoding.decoder.decode(AccessPolicy.self, from: Data(json.utf8))
        #expect(policy.version == "42")
        #expect(policy.destinations.count == 2)
        #expect(policy.destinations[0].ports == ["443", "8000-8080"])
        #expect(policy.destinations[0].notBefore == JSONCoding.parseDate("2026-01-01T00:00:00Z"))
        #expect(policy.destinations[1].notAfter != nil)
        #expect(policy.destinations[1].action == "deny")
        // Round trip through the cache file format.
        let cache = PolicyCache(etag: "\"42\"", confirmedAt: Date(timeIntervalSince1970: 1_800_000_000), policy: policy)
        let again = try JSONCoding.decoder.decode(PolicyCache.self, from: JSONCoding.encoder.encode(cache))
        #expect(again == cache)
        #expect(cache.isFresh(at: cache.confirmedAt.addingTimeInterval(600), staleSeconds: 600))
        #expect(!cache.isFresh(at: cache.confirmedAt.addingTimeInterval(601), staleSeconds: 600))
    }

    @Test("swanctl --list-sas --raw: IKE_SAs, children, states and counters")
    func listSAs() {
        let output = """
        list-sa event {tollgate {uniqueid=3 version=2 state=ESTABLISHED local-host=10.99.1.1 remote-host=10.99.1.2 child-sas {d-lab-1a2b3c4d-5 {name=d-lab-1a2b3c4d uniqueid=5 reqid=1 state=INSTALLED mode=TUNNEL bytes-in=84 packets-in=1 bytes-out=168 packets-out=2 local-ts=[10.99.101.1/32] remote-ts=[10.99.101.2/32 10.98.0.0/16]}}}}
        list-sa event {other {uniqueid=4 state=CONNECTING child-sas {}}}
        """
        let sas = SwanctlRaw.listSAs(output)
        #expect(sas.count == 2)
        #expect(sas[0].name == "tollgate" && sas[0].state == "ESTABLISHED" && sas[0].remoteHost == "10.99.1.2")
        let child = sas[0].children.first
        #expect(child?.name == "d-lab-1a2b3c4d")
        #expect(child?.uniqueID == "5")
        #expect(child?.isUp == true)
        #expect(child?.bytesOut == 168 && child?.packetsIn == 1)
        #expect(child?.remoteTS == ["10.99.101.2/32", "10.98.0.0/16"])
        #expect(sas[1].children.isEmpty)
        #expect(SwanctlRaw.connectionNames("list-conn event {tollgate {local_addrs=[%any]}}\nlist-conn event {x {}}") == ["tollgate", "x"])
    }

    @Test("--server URLs: host, port, IPv6, path; bad ones are refused with the expected form")
    func endpoints() throws {
        let plain = try ServerEndpoint(url: "https://tollgate.example:9443")
        #expect(plain.host == "tollgate.example" && plain.port == 9443 && plain.basePath == "" && !plain.hostIsAddress)
        let v6 = try ServerEndpoint(url: "https://[::1]:8443/base/")
        #expect(v6.host == "::1" && v6.authority == "[::1]:8443" && v6.basePath == "/base" && v6.hostIsAddress)
        #expect(try ServerEndpoint(url: "https://127.0.0.1").port == 443)
        #expect(throws: AgentError.self) { try ServerEndpoint(url: "http://127.0.0.1:8443") }
        #expect(throws: AgentError.self) { try ServerEndpoint(url: "127.0.0.1:8443") }
    }

    @Test("fingerprints are compared whatever their spelling")
    func fingerprints() {
        #expect(CABundle.normalizedFingerprint("ab:cd:EF:01") == "AB:CD:EF:01")
        #expect(CABundle.normalizedFingerprint("abcdef01") == "AB:CD:EF:01")
        #expect(CABundle.normalizedFingerprint("sha256 Fingerprint=AB:CD") == "AB:CD")
    }

    @Test("HTTP statuses map to the documented exit codes")
    func exitCodes() {
        #expect(AgentError.http(status: 401, body: "no", what: "x").exitCode == 3)
        #expect(AgentError.http(status: 403, body: "no", what: "x").exitCode == 3)
        #expect(AgentError.http(status: 400, body: "bad", what: "x").exitCode == 4)
        #expect(AgentError.http(status: 415, body: "bad", what: "x").exitCode == 4)
        #expect(AgentError.http(status: 503, body: "down", what: "x").exitCode == 5)
        #expect(AgentError.http(status: 302, body: "", what: "x").exitCode == 8)
    }
}
