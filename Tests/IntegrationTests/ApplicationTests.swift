import ProcessSpawning
import Directory
import Foundation
import LDAPClient
import ManagedSlapd
import Subscription
import TestSupport
import Testing

/// A valid application request; `name` makes it findable.
func sampleApplication(_ name: String, model: String = "strongswan", firmware: String = "5.9.14",
                       network: String = "10.60.0.0/16", converters: Int = 1) throws -> ApplicationRequest {
    let json = """
    {"organisation": \(jsonString(name)), "mail": "noc@apply.example", "billingMethod": "invoice",
     "converters": [\((1...converters).map { """
        {"name": "gw-\($0)", "address": "192.0.2.\($0)", "model": "\(model)", "firmware": "\(firmware)",
         "ikeVersions": [2], "ikeProposals": ["aes256-sha256-modp2048"]}
        """ }.joined(separator: ","))],
     "destinations": [{"network": "\(network)", "protocol": "tcp", "ports": ["443", "8000-8100"]},
                      {"network": "2001:db8:60::/48", "protocol": "any"}]}
    """
    return try ApplicationRequest.decode(Data(json.utf8))
}

func jsonString(_ text: String) -> String {
    String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
}

/// Application intake, review and approval against slapd (library level).
@Suite("Subscription applications against slapd")
struct ApplicationTests {
    func service(_ rules: ReviewRules = .default) async throws -> ApplicationService {
        ApplicationService(store: DirectoryStore(client: try await SharedSlapd.get().client()), rules: rules)
    }

    @Test("submit stores a pending tgApplication with only the token's hash; the token shows the status")
    func submitPending() async throws {
        let service = try await service()
        let submission = try await service.submit(sampleApplication("Pending Org"))
        #expect(submission.state == "pending")
        #expect(submission.credentials == nil)
        let entry = try #require(try await service.store.client.read(service.store.layout.applications.child("tgApplicationId", submission.id)))
        #expect(entry["tgState"] == "pending")
        #expect(entry["o"] == "Pending Org")
        #expect(entry.strings("tgRequestedConverter").count == 1)
        #expect(entry.strings("tgRequestedDestination").count == 2)
        let hash = try #require(entry["tgStatusTokenHash"])
        #expect(!hash.contains(submission.statusToken))
        #expect(try await service.status(id: submission.id, token: submission.statusToken)?.state == "pending")
        #expect(try await service.status(id: submission.id, token: "wrong") == nil)
        #expect(try await service.status(id: "app-0000", token: submission.statusToken) == nil)
        let history = try await service.store.history(orgNumber: nil)
        #expect(history.contains { $0.type == "application.received" && ($0.data ?? "").contains(submission.id) })
    }

    @Test("invalid fields are refused naming the field; nothing is written")
    func invalidFields() async throws {
        let service = try await service()
        let cases: [(String, String)] = [
            (#""mail": "noc@apply.example""#, #""mail": "not a mail""#),
            (#""address": "192.0.2.1""#, #""address": "192.0.2.300""#),
            (#""network": "10.60.0.0/16""#, #""network": "10.60.0.0/33""#),
            (#""ports": ["443", "8000-8100"]"#, #""ports": ["70000"]"#),
            (#""firmware": "5.9.14""#, #""firmware": "5.9 beta""#),
            (#""billingMethod": "invoice""#, #""billingMethod": "cash""#),
        ]
        let expected = ["mail", "converters[0].address", "destinations[0].network", "destinations[0].ports", "converters[0].firmware", "billingMethod"]
        let template = """
        {"organisation": "Invalid Org", "mail": "noc@apply.example", "billingMethod": "invoice",
         "converters": [{"name": "gw-1", "address": "192.0.2.1", "model": "strongswan", "firmware": "5.9.14", "ikeVersions": [2], "ikeProposals": ["aes256-sha256-modp2048"]}],
         "destinations": [{"network": "10.60.0.0/16", "protocol": "tcp", "ports": ["443", "8000-8100"]}]}
        """
        let before = try await service.applications().filter { $0.name == "Invalid Org" }.count
        for ((good, bad), field) in zip(cases, expected) {
            #expect(template.contains(good))
            do {
                _ = try await service.submit(try ApplicationRequest.decode(Data(template.replacingOccurrences(of: good, with: bad).utf8)))
                Issue.record("accepted an invalid \(field)")
            } catch {
                #expect(error.field == field, "\(error)")
            }
        }
        #expect(throws: SubscriptionError.self) { try ApplicationRequest.decode(Data(#"{"organisation": 5}"#.utf8)) }
        #expect(try await service.applications().filter { $0.name == "Invalid Org" }.count == before)
    }

    @Test("a broken rule rejects the application and the verdict names the rule")
    func ruleRejection() async throws {
        let service = try await service()
        let old = try await service.submit(sampleApplication("Old Firmware", firmware: "5.8.0"))
        #expect(old.state == "rejected")
        #expect(old.verdictReason == "rule firmware.minimum: strongswan 5.9.8 required, got 5.8.0")
        let model = try await service.submit(sampleApplication("Odd Model", model: "toaster"))
        #expect(model.verdictReason?.hasPrefix("rule model.supported:") == true)
        let loopback = try await service.submit(sampleApplication("Loopback", network: "127.0.0.0/8"))
        #expect(loopback.verdictReason?.hasPrefix("rule destination.forbidden:") == true)
        var rules = ReviewRules.default
        rules.maxConverters = 1
        let many = try await self.service(rules).submit(sampleApplication("Many", converters: 2))
        #expect(many.verdictReason?.hasPrefix("rule limit.converters:") == true)
        #expect(try await service.status(id: old.id, token: old.statusToken)?.verdictReason == old.verdictReason)
    }

    @Test("approval creates the tenant; its signature binds; converters and destinations exist")
    func approve() async throws {
        let service = try await service()
        let submission = try await service.submit(sampleApplication("Approved Org"))
        let approval = try await service.approve(id: submission.id)
        #expect(approval.subscriberId == "\(approval.orgNumber)-01")
        #expect(approval.signature.count >= 32)
        let store = service.store
        let subscriber = try #require(try await store.subscriber(approval.orgNumber))
        #expect(subscriber.name == "Approved Org")
        #expect(subscriber.state == "active")
        #expect(try await store.client.checkPassword(dn: store.layout.subscriber(approval.orgNumber), password: approval.signature))
        #expect(try await !store.client.checkPassword(dn: store.layout.subscriber(approval.orgNumber), password: "wrong-signature-00"))
        let stored = try #require(try await store.client.read(store.layout.subscriber(approval.orgNumber), attributes: ["userPassword"]))
        #expect(stored["userPassword"]?.hasPrefix("{") == true)
        #expect(try await store.converters(orgNumber: approval.orgNumber).map(\.name) == ["gw-1"])
        #expect(try await store.destinations(orgNumber: approval.orgNumber).map(\.network.description).sorted() == ["10.60.0.0/16", "2001:db8:60::/48"])
        let decided = try #require(try await service.application(id: submission.id))
        #expect(decided.state == "approved")
        #expect(decided.orgNumber == approval.orgNumber)
        await #expect(throws: SubscriptionError.self) { _ = try await service.approve(id: submission.id) }
        await #expect(throws: SubscriptionError.self) { try await service.reject(id: submission.id, reason: "late") }
        // Auto-approval when configured.
        var rules = ReviewRules.default
        rules.autoApprove = true
        let auto = try await self.service(rules).submit(sampleApplication("Auto Org"))
        #expect(auto.state == "approved")
        #expect(auto.credentials?.orgNumber != nil)
    }

    @Test("an approved tenant's signature binds as that subscriber and does nothing else; wrong signatures lock it")
    func approvedSignatureScope() async throws {
        let service = try await service()
        let slapd = try await SharedSlapd.get()
        let approval = try await service.approve(id: try await service.submit(sampleApplication("Scope Org")).id)
        let url = "ldap://127.0.0.1:\(slapd.ldapPort)", dn = "tgOrgNumber=\(approval.orgNumber),ou=subscribers,dc=tollgate"
        func tool(_ name: String, _ arguments: [String]) async throws -> ProcessOutput {
            try await run("/usr/bin/\(name)", ["-x", "-H", url, "-D", dn, "-w", approval.signature] + arguments)
        }
        // Tollgate wrote the hash itself (slapd's {SSHA512} format, inside the transaction).
        let stored = try #require(try await service.store.client.read(service.store.layout.subscriber(approval.orgNumber),
                                                                      attributes: ["userPassword"])?["userPassword"])
        #expect(stored.hasPrefix("{SSHA512}") && !stored.contains(approval.signature))
        #expect(try await tool("ldapwhoami", []).output.contains(dn))
        let own = try await tool("ldapsearch", ["-LLL", "-b", dn, "(objectClass=tgConverter)", "cn"])
        #expect(own.status == 0 && own.output.contains("cn: gw-1"), "\(own.output)")
        // Nothing of another tenant, the applications or the history of others; no writes.
        let other = try await tool("ldapsearch", ["-LLL", "-b", "tgOrgNumber=1002,ou=subscribers,dc=tollgate", "(objectClass=*)", "dn"])
        #expect(!other.output.contains("dn:"), "\(other.output)")
        let applications = try await tool("ldapsearch", ["-LLL", "-b", "ou=applications,dc=tollgate", "(objectClass=*)", "dn"])
        #expect(!applications.output.contains("dn:"), "\(applications.output)")
        let ldif = temporaryDirectory("scope") + "/modify.ldif"
        try "dn: \(dn)\nchangetype: modify\nreplace: o\no: Renamed\n".write(toFile: ldif, atomically: true, encoding: .utf8)
        let write = try await tool("ldapmodify", ["-f", ldif])
        #expect(write.status != 0 && write.output.contains("Insufficient access"), "\(write.output)")
        #expect(try await service.store.subscriber(approval.orgNumber)?.name == "Scope Org")
        // slapd's lockout applies to it; an operator lifts it.
        let dnValue = service.store.layout.subscriber(approval.orgNumber)
        for _ in 0..<5 { #expect(try await !service.store.client.checkPassword(dn: dnValue, password: approval.signature + "x")) }
        #expect(try await !service.store.client.checkPassword(dn: dnValue, password: approval.signature), "not locked")
        #expect(try await service.store.unlockSubscriber(approval.orgNumber))
        #expect(try await service.store.client.checkPassword(dn: dnValue, password: approval.signature))
    }

    @Test("reject records the reason")
    func reject() async throws {
        let service = try await service()
        let submission = try await service.submit(sampleApplication("Rejected Org"))
        try await service.reject(id: submission.id, reason: "no capacity in this region")
        let status = try await service.status(id: submission.id, token: submission.statusToken)
        #expect(status?.state == "rejected")
        #expect(status?.verdictReason == "no capacity in this region")
    }

    @Test("8 concurrent approvals of 8 applications issue 8 distinct organisation numbers")
    func concurrentApprovals() async throws {
        let service = try await service()
        var ids: [String] = []
        for i in 0..<8 { ids.append(try await service.submit(sampleApplication("Concurrent \(i)")).id) }
        let orgs = try await withThrowingTaskGroup(of: String.self) { group in
            for id in ids {
                // Each approver with its own client, as separate operators would be.
                let own = ApplicationService(store: DirectoryStore(client: try await SharedSlapd.get().client()))
                group.addTask { try await own.approve(id: id).orgNumber }
            }
            var all: [String] = []
            for try await org in group { all.append(org) }
            return all
        }
        #expect(orgs.count == 8)
        #expect(Set(orgs).count == 8)
        for org in orgs { #expect(try await service.store.subscriber(org) != nil) }
    }

    @Test("injection strings in free fields are stored literally")
    func injection() async throws {
        let service = try await service()
        for text in ["*)(uid=*", "x,cn=admin", #"a\00b"#, "Zürich 東京 🚀", "\"quoted\" ; + = < >"] {
            // Converter names get a unique tail: other suites search converters by name.
            let converterName = text + " " + String(UInt32.random(in: 0...UInt32.max), radix: 16)
            let json = """
            {"organisation": \(jsonString(text)), "mail": "noc@apply.example", "billingMethod": "invoice",
             "converters": [{"name": \(jsonString(converterName)), "address": "192.0.2.9", "model": "strongswan", "firmware": "5.9.14", "ikeVersions": [2], "ikeProposals": ["aes256-sha256-modp2048"]}],
             "destinations": [{"network": "10.61.0.0/16", "protocol": "tcp"}]}
            """
            let submission = try await service.submit(try ApplicationRequest.decode(Data(json.utf8)))
            let read = try #require(try await service.application(id: submission.id))
            #expect(read.name == text)
            #expect(read.converters.first?.name == converterName)
            let approval = try await service.approve(id: submission.id)
            #expect(try await service.store.subscriber(approval.orgNumber)?.name == text)
            #expect(try await service.store.converters(orgNumber: approval.orgNumber).map(\.name) == [converterName])
        }
    }

    @Test("a failing transaction leaves no subscriber and the application pending")
    func failingTransaction() async throws {
        // Its own slapd: slapd 2.5.13 was seen to die when an aborted transaction meets
        // concurrent writes from other tests (see docs/subscription.md).
        let slapd = try await startSlapd("apptxn", demo: false)
        let service = ApplicationService(store: DirectoryStore(client: slapd.client()))
        let store = service.store
        // Written past validation: two converters with the same name make the second add
        // fail inside the transaction.
        let id = "app-" + String(UInt64.random(in: 1...UInt64.max), radix: 16)
        let duplicate = Application.RequestedConverter(name: "dup", address: "192.0.2.7", model: "strongswan", firmware: "5.9.14",
                                                       ikeVersions: [2], ikeProposals: ["aes256-sha256-modp2048"])
        let application = Application(id: id, name: "Half Org", mail: "noc@apply.example", billingMethod: "invoice",
                                      converters: [duplicate, Application.RequestedConverter(
                                          name: "dup", address: "192.0.2.8", model: "strongswan", firmware: "5.9.14",
                                          ikeVersions: [2], ikeProposals: ["aes256-sha256-modp2048"])],
                                      destinations: [.init(network: "10.62.0.0/16", protocol: "any")])
        try await store.client.add(store.layout.applications.child("tgApplicationId", id), attributes: application.entryAttributes)
        await #expect(throws: SubscriptionError.self) { _ = try await service.approve(id: id) }
        let leftovers = try await store.client.search(base: store.layout.subscribers, scope: .oneLevel,
                                                      filter: .equal("tgApplicationId", id))
        #expect(leftovers.isEmpty)
        #expect(try await service.application(id: id)?.state == "pending")
    }
}
