import Foundation
import TestSupport
import Testing

/// The application JSON API over HTTPS (curl against `tollgate serve`) and the admin CLI.
@Suite("Application API over HTTPS")
struct ApplicationAPITests {
    static let valid = """
    {"organisation": "API Org *)(uid=*", "mail": "noc@api.example", "billingMethod": "card",
     "converters": [{"name": "gw-1", "address": "198.51.100.7", "model": "strongswan", "firmware": "6.0.1",
                     "ikeVersions": [2], "ikeProposals": ["aes256gcm16-prfsha384-ecp384"]}],
     "destinations": [{"network": "10.70.0.0/16", "protocol": "tcp", "ports": ["443"]}]}
    """

    @Test("submit, read the status with the token, approve with the CLI")
    func lifecycle() async throws {
        let server = try await SharedTollgate.get()
        let (status, body) = try await httpRequest(server, "/v1/applications", body: Self.valid)
        #expect(status == 201, "\(body)")
        let created = try jsonObject(body)
        let id = try #require(created["id"] as? String)
        let token = try #require(created["statusToken"] as? String)
        #expect(created["state"] as? String == "pending")

        let (s1, b1) = try await httpRequest(server, "/v1/applications/\(id)", headers: ["Authorization: Bearer \(token)"])
        #expect(s1 == 200)
        #expect(try jsonObject(b1)["state"] as? String == "pending")
        #expect(try await httpRequest(server, "/v1/applications/\(id)?token=\(token)").0 == 200)
        #expect(try await httpRequest(server, "/v1/applications/\(id)").0 == 404)
        #expect(try await httpRequest(server, "/v1/applications/\(id)?token=wrong").0 == 404)
        #expect(try await httpRequest(server, "/v1/applications/app-00ff?token=\(token)").0 == 404)

        let list = try await server.admin(["application", "list", "--state", "pending"])
        #expect(list.status == 0)
        #expect(list.output.contains(id))
        let approved = try await server.admin(["application", "approve", id, "--json"])
        #expect(approved.status == 0, "\(approved.output)")
        let jsonStart = try #require(approved.output.firstIndex(of: "{"))
        let credentials = try jsonObject(String(approved.output[jsonStart...]))
        let org = try #require(credentials["orgNumber"] as? String)
        let signature = try #require(credentials["signature"] as? String)
        #expect(credentials["subscriberId"] as? String == "\(org)-01")
        let bind = try await run("/usr/bin/ldapwhoami", ["-x", "-H", "ldap://127.0.0.1:\(server.slapd.ldapPort)",
                                                         "-D", "tgOrgNumber=\(org),ou=subscribers,dc=tollgate", "-w", signature])
        #expect(bind.status == 0, "\(bind.output)")
        let (s2, b2) = try await httpRequest(server, "/v1/applications/\(id)", headers: ["Authorization: Bearer \(token)"])
        #expect(s2 == 200)
        #expect(try jsonObject(b2)["state"] as? String == "approved")
        let again = try await server.admin(["application", "reject", id, "--reason", "late"])
        #expect(again.status != 0)
        #expect(again.output.contains("approved already"))
    }

    @Test("bad input: 400 naming the field, 415 for a wrong type, 413 for a large body")
    func badInput() async throws {
        let server = try await SharedTollgate.get()
        let (s1, b1) = try await httpRequest(server, "/v1/applications", body: Self.valid.replacingOccurrences(of: "10.70.0.0/16", with: "10.70.0.0/99"))
        #expect(s1 == 400)
        #expect(try jsonObject(b1)["field"] as? String == "destinations[0].network")
        let (s2, b2) = try await httpRequest(server, "/v1/applications", body: Self.valid.replacingOccurrences(of: #""mail": "noc@api.example", "#, with: ""))
        #expect(s2 == 400)
        #expect(try jsonObject(b2)["field"] as? String == "mail")
        #expect(try await httpRequest(server, "/v1/applications", body: "not json").0 == 400)
        #expect(try await httpRequest(server, "/v1/applications", body: Self.valid, contentType: "text/plain").0 == 415)
        let huge = Self.valid.replacingOccurrences(of: "API Org", with: String(repeating: "x", count: 100_000))
        #expect(try await httpRequest(server, "/v1/applications", body: huge).0 == 413)
    }

    @Test("a rule rejection is visible in the status")
    func ruleRejection() async throws {
        let server = try await SharedTollgate.get()
        let (status, body) = try await httpRequest(server, "/v1/applications", body: Self.valid.replacingOccurrences(of: "6.0.1", with: "5.8.0"))
        #expect(status == 201)
        let created = try jsonObject(body)
        #expect(created["state"] as? String == "rejected")
        #expect(created["verdictReason"] as? String == "rule firmware.minimum: strongswan 5.9.8 required, got 5.8.0")
    }
}
