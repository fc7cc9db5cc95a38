import Foundation
import Mail
import TestSupport
import Testing

@Suite("Mail delivery against a real aiosmtpd")
struct MailDeliveryTests {
    static let fast = MailRetryPolicy(initial: .milliseconds(200), multiplier: 2, maximum: .milliseconds(400))
    static let slow = MailRetryPolicy(initial: .seconds(1), multiplier: 2, maximum: .seconds(2))

    func configuration(port: Int) -> MailConfiguration {
        MailConfiguration(host: "127.0.0.1", port: port, startTLS: .none, from: "tollgate@example.net",
                          stepTimeout: .seconds(5))
    }

    @Test("approved verdict arrives with recipients, subject and both MIME parts; moved to sent/")
    func approvedVerdictArrives() async throws {
        let directory = temporaryDirectory("ok")
        let server = try await SMTPTestServer(port: freePort(), directory: directory)
        defer { server.terminate() }
        let spool = try MailSpool(directory: directory)
        let delivery = MailDelivery(configuration: configuration(port: server.port), spool: spool, retryPolicy: Self.fast)
        let message = VerdictMail.approved(
            from: "tollgate@example.net", to: ["alice@client.example", "bob@client.example"],
            organisation: "Example Networks", subscriberID: "1001-01",
            credentials: [(label: "Signature", value: "s3cr3t-sig")],
            nextSteps: ["Enrol each converter with EST.", ".Start the agent (leading dot line)."])
        try await delivery.submit(message)
        #expect(try await spool.pending().count == 1)

        let pass = try await delivery.deliverDue()
        #expect(pass.delivered.count == 1 && pass.failed.isEmpty)
        let received = try server.received()
        try #require(received.count == 1)
        let mail = received[0]
        #expect(mail.mail_from == "tollgate@example.net")
        #expect(mail.rcpt_tos == ["alice@client.example", "bob@client.example"])
        #expect(mail.subject == "Tollgate subscription approved: Example Networks")
        #expect(mail.content_type == "multipart/alternative")
        #expect(mail.mime_version == "1.0")
        #expect(mail.message_id.hasPrefix("<") && mail.message_id.hasSuffix("@example.net>"))
        #expect(!mail.date.isEmpty)
        #expect(mail.defects == 0)
        #expect(mail.text?.contains("Subscriber ID: 1001-01") == true)
        #expect(mail.text?.contains("Signature: s3cr3t-sig") == true)
        #expect(mail.text?.contains("2. .Start the agent (leading dot line).") == true)
        #expect(mail.html?.contains("<code>1001-01</code>") == true)
        #expect(try await spool.pending().isEmpty)
        let sent = try await spool.sent()
        #expect(sent.count == 1 && sent[0].sentAt != nil)
        #expect(FileManager.default.fileExists(atPath: spool.sentDirectory.appendingPathComponent("\(sent[0].id).eml").path))
    }

    @Test("many due messages go out in batches over shared connections; a refused one stays pending, the others are sent")
    func batchWithRefusedMessage() async throws {
        let directory = temporaryDirectory("batch")
        let server = try await SMTPTestServer(port: freePort(), directory: directory)
        defer { server.terminate() }
        let spool = try MailSpool(directory: directory)
        let delivery = MailDelivery(configuration: configuration(port: server.port), spool: spool, retryPolicy: Self.fast)
        let count = MailDelivery.batchSize + 7
        for i in 0..<count {
            let to = i == 3 ? "refused@client.example" : "noc-\(i)@client.example"
            try await delivery.submit(MailMessage(from: "tollgate@example.net", to: [to], subject: "Report \(i)", text: "Body \(i)\n"))
        }
        let pass = try await delivery.deliverDue()
        #expect(pass.delivered.count == count - 1)
        #expect(pass.failed.count == 1)
        let received = try server.received()
        #expect(received.count == count - 1)
        #expect(Set(received.compactMap { $0.rcpt_tos?.first }).count == count - 1)
        #expect(!received.contains { $0.rcpt_tos == ["refused@client.example"] })
        let pending = try await spool.pending()
        try #require(pending.count == 1)
        #expect(pending[0].to == ["refused@client.example"] && pending[0].attempts == 1)
        #expect(pending[0].lastError?.contains("550") == true)
        #expect(try await spool.sent().count == count - 1)
    }

    @Test("non-ASCII subject and body round-trip; dot-stuffing keeps leading dots")
    func nonASCIIRoundTrip() async throws {
        let directory = temporaryDirectory("utf8")
        let server = try await SMTPTestServer(port: freePort(), directory: directory)
        defer { server.terminate() }
        let client = SMTPClient(configuration: configuration(port: server.port))
        let subject = "Abgelehnt: Müller & Søn GmbH — Überprüfung fehlgeschlagen ✗ 🚀 (Zürich, Göteborg, Kraków)"
        let text = "Grüße aus Zürich.\n.\n..two dots\nA very long line " + String(repeating: "ä", count: 120) + " end.\n"
        let message = VerdictMail.rejected(from: "tollgate@example.net", to: ["ops@example.org"],
                                           organisation: "Müller & Søn", reason: "Signature missing")
        var custom = MailMessage(from: message.from, to: message.to, subject: subject, text: text, html: "<p>Grüße ✓</p>")
        custom.date = Date(timeIntervalSince1970: 1_700_000_000)
        try await client.send(custom.rfc5322(), from: custom.from, to: custom.to)
        try await client.send(message.rfc5322(), from: message.from, to: message.to)
        let received = try server.received()
        try #require(received.count == 2)
        #expect(received[0].subject == subject)
        #expect(received[0].text == text)
        #expect(received[0].html == "<p>Grüße ✓</p>")
        #expect(received[0].date == "Tue, 14 Nov 2023 22:13:20 +0000")
        #expect(received[1].subject == "Tollgate subscription rejected: Müller & Søn")
        #expect(received[1].text?.contains("Reason: Signature missing") == true)
        #expect(received[1].html?.contains("Müller &amp; Søn") == true)
    }

    @Test("SMTP down: stays pending with attempts counted, then delivered after a restart")
    func retriesUntilServerComesUp() async throws {
        let directory = temporaryDirectory("retry")
        let port = freePort()
        let first = MailDelivery(configuration: configuration(port: port), spool: try MailSpool(directory: directory),
                                 retryPolicy: Self.slow)
        let entry = try await first.submit(MailMessage(from: "tollgate@example.net", to: ["a@example.org"],
                                                       subject: "retry me", text: "hello"))
        // Passes get their `now` explicitly: no test step depends on how fast the machine is.
        let firstPass = Date()
        var pass = try await first.deliverDue(now: firstPass)
        #expect(pass.failed == [entry.id])
        var pending = try await first.spool.pending()
        #expect(pending.count == 1 && pending[0].attempts == 1)
        #expect(pending[0].lastError?.contains("cannot connect") == true)
        #expect(pending[0].nextAttempt.timeIntervalSince(firstPass) >= 0.99)  // 1 s after the failure

        pass = try await first.deliverDue(now: firstPass)  // not due yet: untouched
        #expect(pass.failed.isEmpty && pass.delivered.isEmpty)
        let secondPass = Date()
        pass = try await first.deliverDue(now: pending[0].nextAttempt)  // due
        #expect(pass.failed == [entry.id])
        pending = try await first.spool.pending()
        #expect(pending.count == 1 && pending[0].attempts == 2)
        #expect(pending[0].nextAttempt.timeIntervalSince(secondPass) >= 1.99)  // backoff doubled (2 s after the failure)

        // "Restart": a new spool and delivery service on the same directory, run as a service.
        let server = try await SMTPTestServer(port: port, directory: directory)
        defer { server.terminate() }
        let second = MailDelivery(configuration: configuration(port: port), spool: try MailSpool(directory: directory),
                                  retryPolicy: Self.fast, pollInterval: .milliseconds(100))
        let runner = Task { try await second.run() }
        defer { runner.cancel() }
        for _ in 0..<100 where try await second.spool.sent().isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        runner.cancel()
        let sent = try await second.spool.sent()
        #expect(sent.count == 1 && sent[0].id == entry.id && sent[0].attempts == 2)
        #expect(try await second.spool.pending().isEmpty)
        #expect(try server.received().map(\.subject) == ["retry me"])
    }

    @Test("no SMTP configured: the message is written to the outbox as a parseable .eml")
    func outboxOnly() async throws {
        let directory = temporaryDirectory("outbox")
        let spool = try MailSpool(directory: directory)
        let delivery = MailDelivery(configuration: MailConfiguration(from: "tollgate@example.net"), spool: spool)
        let entry = try await delivery.submit(VerdictMail.rejected(from: "tollgate@example.net", to: ["x@example.org"],
                                                                   organisation: "Ørsted", reason: "incomplete"))
        #expect(try await delivery.deliverDue() == MailDelivery.Pass())
        #expect(try await spool.pending().isEmpty)
        #expect(try await spool.outboxEntries().map(\.id) == [entry.id])
        let path = spool.outbox.appendingPathComponent("\(entry.id).eml").path
        let raw = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!raw.replacingOccurrences(of: "\r\n", with: "").contains("\n"))  // CRLF only
        let parsed = try parseEML(path, scriptDirectory: directory)
        #expect(parsed.subject == "Tollgate subscription rejected: Ørsted")
        #expect(parsed.to_header == "x@example.org")
        #expect(parsed.text?.contains("Reason: incomplete") == true)
        #expect(parsed.html != nil)
        #expect(parsed.defects == 0)
    }

    @Test("STARTTLS required but not offered fails with a typed error and stays pending")
    func startTLSRequiredNotOffered() async throws {
        let directory = temporaryDirectory("notls")
        let server = try await SMTPTestServer(port: freePort(), directory: directory)
        defer { server.terminate() }
        var configuration = configuration(port: server.port)
        configuration.startTLS = .required
        let client = SMTPClient(configuration: configuration)
        let message = MailMessage(from: "tollgate@example.net", to: ["a@example.org"], subject: "s", text: "t")
        await #expect(throws: MailError.startTLSUnavailable(host: "127.0.0.1")) {
            try await client.send(message.rfc5322(), from: message.from, to: message.to)
        }
        #expect(try server.received().isEmpty)
    }

    @Test("STARTTLS with a private trust root: delivered over TLS; without the root it fails with a TLS error")
    func startTLS() async throws {
        let directory = temporaryDirectory("tls")
        let certificate = "\(directory)/cert.pem", key = "\(directory)/key.pem"
        try runTool("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        let server = try await SMTPTestServer(port: freePort(), directory: directory, tlsCertificate: certificate, tlsKey: key)
        defer { server.terminate() }
        var configuration = MailConfiguration(host: "localhost", port: server.port, startTLS: .required,
                                              trustRootsPEMFile: certificate, from: "tollgate@example.net", stepTimeout: .seconds(5))
        let message = MailMessage(from: "tollgate@example.net", to: ["a@example.org"], subject: "over TLS", text: "secret")
        try await SMTPClient(configuration: configuration).send(message.rfc5322(), from: message.from, to: message.to)
        #expect(try server.received().map(\.subject) == ["over TLS"])

        configuration.trustRootsPEMFile = nil  // system roots do not trust the test certificate
        do {
            try await SMTPClient(configuration: configuration).send(message.rfc5322(), from: message.from, to: message.to)
            Issue.record("an untrusted server certificate was accepted")
        } catch let error as MailError {
            guard case .tls = error else { throw error }
        }
        configuration.startTLS = .none  // the server requires STARTTLS before MAIL: its reply is reported
        do {
            try await SMTPClient(configuration: configuration).send(message.rfc5322(), from: message.from, to: message.to)
            Issue.record("plain MAIL FROM was accepted by a server requiring STARTTLS")
        } catch let error as MailError {
            guard case .unexpectedReply(let step, let code, let text) = error else { throw error }
            #expect(step == "MAIL FROM" && code == 530 && text.contains("STARTTLS"))
        }
        #expect(try server.received().count == 1)
    }

    @Test("a server that never answers times out per step")
    func stepTimeout() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        #expect(listen(listener, 4) == 0)  // accepts connections (backlog) but never greets
        let configuration = MailConfiguration(host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)), startTLS: .none,
                                              from: "tollgate@example.net", stepTimeout: .milliseconds(300))
        await #expect(throws: MailError.timeout(step: "greeting", seconds: 0.3)) {
            try await SMTPClient(configuration: configuration).send(Data("x\r\n".utf8), from: "a@example.org", to: ["b@example.org"])
        }
    }
}
