import Directory
import Foundation
import LDAPClient
import Mail
import Subscription
import Synchronization
import TestSupport
import Testing

/// A `tollgate serve` that mails through a real aiosmtpd, with short retry settings.
final class MailingTollgate: Sendable {
    let server: TollgateProcess
    let smtpPort: Int
    let smtpDirectory: String
    private let smtp: Mutex<SMTPTestServer?>

    static let shared = Mutex<Task<MailingTollgate, any Error>?>(nil)

    static func get() async throws -> MailingTollgate {
        let task = shared.withLock { current in
            if let current { return current }
            let task = Task { try await MailingTollgate.start() }
            current = task
            return task
        }
        return try await task.value
    }

    private init(server: TollgateProcess, smtpPort: Int, smtpDirectory: String, smtp: SMTPTestServer) {
        self.server = server
        self.smtpPort = smtpPort
        self.smtpDirectory = smtpDirectory
        self.smtp = Mutex(smtp)
    }

    static func start() async throws -> MailingTollgate {
        let port = freePort(), directory = temporaryDirectory("smtp")
        let smtp = try await SMTPTestServer(port: port, directory: directory)
        let server = try await SharedTollgate.start([
            "--smtp-host", "127.0.0.1", "--smtp-port", String(port), "--smtp-starttls", "off",
            "--mail-from", "tollgate@tollgate.example", "--public-url", "https://tollgate.example:8443",
            "--mail-poll-interval", "0.2", "--mail-retry-initial", "0.3", "--mail-retry-max", "1"])
        return MailingTollgate(server: server, smtpPort: port, smtpDirectory: directory, smtp: smtp)
    }

    /// Everything aiosmtpd received so far (also across restarts).
    func received() throws -> [ReceivedMail] {
        try smtp.withLock { try $0?.received() } ?? []
    }

    /// Waits for the mail to `recipient`.
    func mail(to recipient: String, timeout: Double = 20) async throws -> ReceivedMail {
        var found: ReceivedMail?
        _ = try await eventually(timeout) {
            found = try self.received().first { $0.rcpt_tos == [recipient] }
            return found != nil
        }
        return try #require(found, "no mail to \(recipient) arrived at aiosmtpd")
    }

    func stopSMTP() async {
        let current = smtp.withLock { current in defer { current = nil }; return current }
        await current?.stop()
    }

    func startSMTP() async throws {
        let started = try await SMTPTestServer(port: smtpPort, directory: smtpDirectory)
        smtp.withLock { $0 = started }
    }
}

/// Verdict mails: the admin CLI and the server spool them, `tollgate serve` delivers them
/// to a real SMTP server (aiosmtpd), retrying while it is down.
@Suite("Verdict mails through tollgate serve and aiosmtpd", .serialized)
struct VerdictMailTests {
    @Test("approve with the CLI while serve runs: the mail arrives with subscriber ID, org number and a signature that binds")
    func approvalMail() async throws {
        let fixture = try await MailingTollgate.get()
        let server = fixture.server
        let tag = randomTag()
        let recipient = "noc-\(tag)@client.example"
        let (id, _, _) = try await submitApplication(server, applicationJSON(organisation: "Mail Org \(tag)", mail: recipient))
        let approved = try await server.admin(["application", "approve", id, "--json"])
        #expect(approved.status == 0, "\(approved.output)")
        #expect(approved.output.contains("spooled as \(server.data)/outbox/pending/"), "\(approved.output)")
        let credentials = try printedObject(approved.output)
        let org = try #require(credentials["orgNumber"] as? String)
        let printedSignature = try #require(credentials["signature"] as? String)

        let mail = try await fixture.mail(to: recipient)
        #expect(mail.mail_from == "tollgate@tollgate.example")
        #expect(mail.to_header == recipient)
        #expect(mail.subject == "Tollgate subscription approved: Mail Org \(tag)")
        let text = try #require(mail.text)
        #expect(text.contains("Subscriber ID: \(org)-01"))
        #expect(text.contains("Organisation number: \(org)"))
        #expect(text.contains("pki --est --url https://tollgate.example:8443"))
        #expect(text.contains("--userpass \(org)-01:SIGNATURE"))
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("Signature: ") })
        let signature = String(line.dropFirst("Signature: ".count))
        #expect(signature == printedSignature)
        // The mailed signature binds as the new subscriber (and a wrong one does not).
        let url = "ldap://127.0.0.1:\(server.slapd.ldapPort)", dn = "tgOrgNumber=\(org),ou=subscribers,dc=tollgate"
        let bind = try await run("/usr/bin/ldapwhoami", ["-x", "-H", url, "-D", dn, "-w", signature])
        #expect(bind.status == 0, "\(bind.output)")
        #expect(bind.output.contains(dn))
        #expect(try await run("/usr/bin/ldapwhoami", ["-x", "-H", url, "-D", dn, "-w", signature + "x"]).status != 0)

        // Spool: sent/, nothing pending or held for it; history under the tenant.
        let spool = try MailSpool(directory: server.data)
        #expect(try await spool.sent().contains { $0.to == [recipient] && $0.metadata?["orgNumber"] == org })
        #expect(try await spool.pending().allSatisfy { $0.to != [recipient] })
        #expect(try await spool.held().allSatisfy { $0.to != [recipient] })
        var types: [String] = []
        #expect(try await eventually {
            types = try await historyEvents(server, org: org).map(\.type)
            return types.contains("mail.sent")
        }, "\(types)")
        for type in ["application.received", "application.approved", "subscriber.added", "credentials.issued", "mail.spooled", "mail.sent"] {
            #expect(types.contains(type), "\(type) missing in \(types)")
        }
    }

    @Test("reject with the CLI: the mail names the reason; a rule rejection at intake is mailed naming the rule")
    func rejectionMails() async throws {
        let fixture = try await MailingTollgate.get()
        let server = fixture.server
        let tag = randomTag()
        let first = "ops-\(tag)@client.example", second = "old-\(tag)@client.example"
        let (id, _, _) = try await submitApplication(server, applicationJSON(organisation: "Rejected Org \(tag)", mail: first))
        let rejected = try await server.admin(["application", "reject", id, "--reason", "no capacity in region \(tag)"])
        #expect(rejected.status == 0, "\(rejected.output)")
        let mail = try await fixture.mail(to: first)
        #expect(mail.subject == "Tollgate subscription rejected: Rejected Org \(tag)")
        #expect(mail.text?.contains("Reason: no capacity in region \(tag) (application \(id))") == true, "\(mail.text ?? "")")

        let (ruleID, _, body) = try await submitApplication(server, applicationJSON(organisation: "Old Firmware \(tag)", mail: second, firmware: "5.8.0"))
        #expect(body["state"] as? String == "rejected")
        let ruleMail = try await fixture.mail(to: second)
        #expect(ruleMail.text?.contains("Reason: rule firmware.minimum: strongswan 5.9.8 required, got 5.8.0 (application \(ruleID))") == true,
                "\(ruleMail.text ?? "")")
        #expect(ruleMail.html?.contains("rule firmware.minimum") == true)
        // Both recorded in the global history, sent included.
        #expect(try await eventually {
            let events = try await historyEvents(server, org: nil)
            return [id, ruleID].allSatisfy { app in events.contains { $0.type == "mail.sent" && ($0.data ?? "").contains(app) } }
        })
    }

    @Test("SMTP down at approval: the mail stays pending with attempts counted, then arrives once the server is back")
    func smtpDown() async throws {
        let fixture = try await MailingTollgate.get()
        let server = fixture.server
        let tag = randomTag()
        let recipient = "late-\(tag)@client.example"
        await fixture.stopSMTP()
        let (id, _, _) = try await submitApplication(server, applicationJSON(organisation: "Late Org \(tag)", mail: recipient))
        let approved = try await server.admin(["application", "approve", id, "--json"])
        #expect(approved.status == 0, "\(approved.output)")
        let spool = try MailSpool(directory: server.data)
        var entry: SpoolEntry?
        #expect(try await eventually {
            entry = try await spool.pending().first { $0.to == [recipient] }
            return (entry?.attempts ?? 0) >= 2
        }, "not retried: \(String(describing: entry))")
        #expect(entry?.lastError?.contains("cannot connect") == true, "\(entry?.lastError ?? "")")
        #expect(try fixture.received().allSatisfy { $0.rcpt_tos != [recipient] })

        try await fixture.startSMTP()
        let mail = try await fixture.mail(to: recipient)
        #expect(mail.subject == "Tollgate subscription approved: Late Org \(tag)")
        #expect(try await eventually { try await spool.sent().contains { $0.to == [recipient] } })
        let sent = try #require(try await spool.sent().first { $0.to == [recipient] })
        #expect(sent.attempts >= 2)
        #expect(try await spool.pending().allSatisfy { $0.to != [recipient] })
        #expect(try fixture.received().filter { $0.rcpt_tos == [recipient] }.count == 1)
    }
}

/// Without an SMTP host (the embedded default) verdict mails are `.eml` files in DIR/outbox.
@Suite("Verdict mails in the outbox")
struct OutboxMailTests {
    @Test("approve with the CLI against a server without SMTP: a parseable .eml with the credentials in DIR/outbox")
    func outbox() async throws {
        let server = try await SharedTollgate.get()
        let tag = randomTag()
        let recipient = "box-\(tag)@client.example"
        let (id, _, _) = try await submitApplication(server, applicationJSON(organisation: "Outbox Org \(tag)", mail: recipient))
        let approved = try await server.admin(["application", "approve", id, "--json"])
        #expect(approved.status == 0, "\(approved.output)")
        let org = try #require(try printedObject(approved.output)["orgNumber"] as? String)
        let spool = try MailSpool(directory: server.data)
        let entry = try #require(try await spool.outboxEntries().first { $0.to == [recipient] })
        #expect(entry.metadata?["orgNumber"] == org)
        let parsed = try parseEML(spool.outbox.appendingPathComponent("\(entry.id).eml").path, scriptDirectory: temporaryDirectory("eml"))
        #expect(parsed.subject == "Tollgate subscription approved: Outbox Org \(tag)")
        #expect(parsed.text?.contains("Organisation number: \(org)") == true)
        #expect(parsed.defects == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: spool.outbox.path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }
}
