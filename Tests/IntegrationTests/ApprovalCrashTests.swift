import ProcessSpawning
import Directory
import Foundation
import LDAPClient
import Mail
import ManagedSlapd
import Subscription
import TestSupport
import Testing

/// A real crash of `tollgate admin application approve` (SIGKILL) at the two points that
/// matter: with the tenant's LDAP transaction open, and after its commit before the verdict
/// mail is released. Its own server (slapd 2.5.13 has been fragile when aborted
/// transactions meet concurrent writes of other suites).
@Suite("Approval crash (kill -9 of the CLI)", .serialized)
struct ApprovalCrashTests {
    actor Fixture {
        static let shared = Fixture()
        private var task: Task<TollgateProcess, any Error>?
        func get() async throws -> TollgateProcess {
            if let task { return try await task.value }
            let started = Task { try await SharedTollgate.start(["--mail-poll-interval", "0.2"]) }
            task = started
            return try await started.value
        }
    }

    /// Starts `approve` with the test pause, waits until it reached the pause, runs
    /// `whilePaused`, kills it with SIGKILL and reaps it.
    func approveAndKill(_ server: TollgateProcess, _ id: String, pause: String,
                        whilePaused: () async throws -> Void = {}) async throws {
        let log = temporaryDirectory("crash") + "/approve.log"
        let pid = try Subprocess.spawn("/usr/bin/env", ["TOLLGATE_TEST_APPROVAL_PAUSE=\(pause):60", tollgateBinary,
                                                        "admin", "application", "approve", id, "--data", server.data], outputPath: log)
        ProcessCleanup.atExit(pid, signal: SIGKILL)
        let phase = String(pause.prefix { $0 != ":" })
        let reached = try await eventually(30) {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("test pause \(phase)")
        }
        #expect(reached, "approve never reached the pause: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        try await whilePaused()
        #expect(kill(pid, SIGKILL) == 0)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        #expect(status & 0x7f == SIGKILL, "approve was not killed (status \(status))")
    }

    func tenants(_ store: DirectoryStore, application id: String) async throws -> [LDAPEntry] {
        try await store.client.search(base: store.layout.subscribers, scope: .subtree, filter: .equal("tgApplicationId", id))
    }

    func outboxMails(_ spool: MailSpool, application id: String) async throws -> [SpoolEntry] {
        try await spool.outboxEntries().filter { $0.metadata?["applicationId"] == id }
    }

    @Test("killed with the transaction open: no tenant at all, the held mail is discarded, a retry approves and mails once")
    func killedInTransaction() async throws {
        let server = try await Fixture.shared.get()
        let store = DirectoryStore(client: server.store)
        let service = ApplicationService(store: store)
        let spool = try MailSpool(directory: server.data)
        let (id, _, _) = try await submitApplication(server, applicationJSON(organisation: "Crash Org \(randomTag())"))

        try await approveAndKill(server, id, pause: "in-transaction") { () async throws in
            // While the holder lives the server leaves its held mail alone.
            let held = try await spool.held().contains { $0.metadata?["applicationId"] == id }
            #expect(held, "the verdict mail was not held before the commit")
        }

        // slapd dropped the open transaction with the connection: nothing of the tenant.
        #expect(try await tenants(store, application: id).isEmpty)
        let application = try #require(try await service.application(id: id))
        #expect(application.state == "pending")
        #expect(application.orgNumber == nil)
        #expect(try await run("/usr/bin/curl", ["-s", "--cacert", server.rootCA, server.url + "/healthz"]).output.contains("\"directory\":\"ok\""),
                "slapd died after the aborted transaction")
        // The server sees the holder is gone and the verdict not in the directory: discarded.
        #expect(try await eventually { try await spool.held().allSatisfy { $0.metadata?["applicationId"] != id } })
        #expect(try await outboxMails(spool, application: id).isEmpty)

        // A retry approves the whole tenant and mails the credentials exactly once.
        let retry = try await server.admin(["application", "approve", id, "--json"])
        #expect(retry.status == 0, "\(retry.output)")
        let credentials = try printedObject(retry.output)
        let org = try #require(credentials["orgNumber"] as? String)
        let tenant = try await tenants(store, application: id)
        #expect(tenant.count == 1)
        #expect(try await store.converters(orgNumber: org).map(\.name) == ["gw-1"])
        #expect(try await store.destinations(orgNumber: org).count == 1)
        let mails = try await outboxMails(spool, application: id)
        #expect(mails.count == 1)
        #expect(mails.first?.metadata?["orgNumber"] == org)
        #expect(try await store.client.checkPassword(dn: store.layout.subscriber(org), password: try #require(credentials["signature"] as? String)))
    }

    @Test("killed after the commit: the whole tenant exists and the server releases the held mail with a working signature")
    func killedAfterCommit() async throws {
        let server = try await Fixture.shared.get()
        let store = DirectoryStore(client: server.store)
        let service = ApplicationService(store: store)
        let spool = try MailSpool(directory: server.data)
        let (id, _, _) = try await submitApplication(server, applicationJSON(organisation: "Committed Org \(randomTag())"))

        try await approveAndKill(server, id, pause: "after-commit")
        let application = try #require(try await service.application(id: id))
        #expect(application.state == "approved")
        let org = try #require(application.orgNumber)
        // The whole tenant: subscriber with its hash, five containers, converter, destination, history.
        let subtree = try await store.client.search(base: store.layout.subscriber(org), scope: .subtree, filter: .present("objectClass"))
        let names = Set(subtree.map { $0.dn.string.lowercased() })
        for container in DirectoryLayout.tenantContainers {
            #expect(names.contains(store.layout.subscriber(org).child("ou", container.name).string.lowercased()), "no ou=\(container.name)")
        }
        #expect(try await store.converters(orgNumber: org).map(\.name) == ["gw-1"])
        #expect(try await store.destinations(orgNumber: org).count == 1)
        #expect(try await store.history(orgNumber: org).map(\.type).contains("credentials.issued"))

        // The server releases the held mail (the holder died, the directory has the verdict).
        var mails: [SpoolEntry] = []
        #expect(try await eventually { mails = try await outboxMails(spool, application: id); return mails.count == 1 })
        #expect(try await spool.held().allSatisfy { $0.metadata?["applicationId"] != id })
        let mail = try #require(mails.first)
        let parsed = try parseEML(spool.outbox.appendingPathComponent("\(mail.id).eml").path, scriptDirectory: temporaryDirectory("eml"))
        let line = try #require(parsed.text?.split(separator: "\n").first { $0.hasPrefix("Signature: ") })
        let signature = String(line.dropFirst("Signature: ".count))
        #expect(try await store.client.checkPassword(dn: store.layout.subscriber(org), password: signature))
        #expect(try await eventually { try await historyEvents(server, org: org).contains { $0.type == "mail.released" } })
    }

    @Test("6 approve processes at once (no in-process gate between them) issue 6 distinct organisation numbers, each a whole tenant")
    func concurrentProcesses() async throws {
        let server = try await Fixture.shared.get()
        let store = DirectoryStore(client: server.store)
        var ids: [String] = []
        for i in 0..<6 { ids.append(try await submitApplication(server, applicationJSON(organisation: "Parallel \(i) \(randomTag())")).id) }
        let outputs = try await withThrowingTaskGroup(of: ProcessOutput.self) { group in
            for id in ids { group.addTask { try await server.admin(["application", "approve", id, "--json"]) } }
            var all: [ProcessOutput] = []
            for try await output in group { all.append(output) }
            return all
        }
        var orgs: [String] = []
        for output in outputs {
            #expect(output.status == 0, "\(output.output)")
            if output.status == 0, let org = try printedObject(output.output)["orgNumber"] as? String { orgs.append(org) }
        }
        #expect(orgs.count == 6 && Set(orgs).count == 6, "\(orgs)")
        for org in orgs {
            #expect(try await store.converters(orgNumber: org).count == 1)
            #expect(try await store.history(orgNumber: org).contains { $0.type == "credentials.issued" })
        }
        #expect(try await run("/usr/bin/curl", ["-s", "--cacert", server.rootCA, server.url + "/healthz"]).output.contains("\"directory\":\"ok\""),
                "slapd died under concurrent transactions")
    }
}
