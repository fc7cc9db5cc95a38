import Foundation
import TestSupport
import Testing

/// History of the API calls made on a client's behalf (store 204), batched by the server.
@Suite("Application history")
struct ApplicationHistoryTests {
    @Test("N status reads become N history entries under the tenant (after the batch flush); --since filters")
    func statusReads() async throws {
        let server = try await SharedTollgate.get()
        let (id, token, _) = try await submitApplication(server, applicationJSON(organisation: "History Org \(randomTag())"))
        let approved = try await server.admin(["application", "approve", id, "--json"])
        #expect(approved.status == 0, "\(approved.output)")
        let org = try #require(try printedObject(approved.output)["orgNumber"] as? String)

        func read(_ count: Int) async throws {
            for _ in 0..<count {
                let (status, _) = try await httpRequest(server, "/v1/applications/\(id)", headers: ["Authorization: Bearer \(token)"])
                #expect(status == 200)
            }
        }
        try await read(3)
        // Wrong tokens are not calls on the client's behalf: no entries.
        #expect(try await httpRequest(server, "/v1/applications/\(id)", headers: ["Authorization: Bearer wrong"]).0 == 404)
        try await Task.sleep(for: .milliseconds(1200))
        let since = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        try await read(4)

        func statusEvents(since: String? = nil) async throws -> [(type: String, data: String?)] {
            try await historyEvents(server, org: org, since: since).filter { $0.type == "api.application.status" }
        }
        var seen = 0
        #expect(try await eventually { seen = try await statusEvents().count; return seen == 7 }, "\(seen) status events")
        let events = try await statusEvents()
        #expect(events.allSatisfy { ($0.data ?? "").contains("\"applicationId\":\"\(id)\"") && ($0.data ?? "").contains("\"state\":\"approved\"") })
        let iso = ISO8601DateFormatter().string(from: since)
        #expect(try await statusEvents(since: iso).count == 4)
        #expect(try await statusEvents(since: "2099-01-01").isEmpty)
        // The same entries are plain LDAP entries under the tenant.
        let ldap = try await run("/usr/bin/ldapsearch", ["-Q", "-LLL", "-Y", "EXTERNAL", "-H", server.slapd.ldapiURL,
                                                         "-b", "ou=history,tgOrgNumber=\(org),ou=subscribers,dc=tollgate",
                                                         "(tgEventType=api.application.status)", "tgEventId"])
        #expect(ldap.output.components(separatedBy: "tgEventId:").count - 1 == 7, "\(ldap.output)")
    }
}
