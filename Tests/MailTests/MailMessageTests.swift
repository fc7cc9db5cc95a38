import Foundation
@testable import Mail
import TestSupport
import Testing

@Suite("Mail messages")
struct MailMessageTests {
    @Test("header injection is refused with a typed error")
    func headerInjection() throws {
        let injected = MailMessage(from: "tollgate@example.net", to: ["a@example.org"],
                                   subject: "Hello\r\nBcc: victim@example.org", text: "x")
        #expect(throws: MailError.headerInjection(header: "Subject")) { try injected.rfc5322() }
        let lf = MailMessage(from: "tollgate@example.net", to: ["a@example.org"], subject: "Hello\nX-Evil: 1", text: "x")
        #expect(throws: MailError.headerInjection(header: "Subject")) { try lf.rfc5322() }
        let recipient = MailMessage(from: "tollgate@example.net", to: ["a@example.org\r\nBcc: b@example.org"], subject: "s", text: "x")
        #expect(throws: MailError.headerInjection(header: "address")) { try recipient.rfc5322() }
        let bad = MailMessage(from: "Tollgate <tollgate@example.net>", to: ["a@example.org"], subject: "s", text: "x")
        #expect(throws: MailError.invalidAddress("Tollgate <tollgate@example.net>")) { try bad.rfc5322() }
        let none = MailMessage(from: "tollgate@example.net", to: [], subject: "s", text: "x")
        #expect(throws: MailError.noRecipients) { try none.rfc5322() }
    }

    @Test("spooling refuses an injected header and writes nothing")
    func spoolRefusesInjection() async throws {
        let directory = temporaryDirectory("inject")
        let spool = try MailSpool(directory: directory)
        let message = MailMessage(from: "tollgate@example.net", to: ["a@example.org"], subject: "a\rb", text: "x")
        await #expect(throws: MailError.self) { try await spool.enqueue(message, forDelivery: true) }
        #expect(try await spool.pending().isEmpty)
    }

    @Test("rendering: CRLF only, required headers, quoted-printable lines ≤ 76")
    func rendering() throws {
        let message = MailMessage(from: "tollgate@example.net", to: ["a@example.org"], subject: "Grüße",
                                  text: String(repeating: "é", count: 100) + " trailing space ", html: "<p>x</p>")
        let raw = String(decoding: try message.rfc5322(), as: UTF8.self)
        let lines = raw.components(separatedBy: "\r\n")
        #expect(!lines.contains { $0.contains("\n") || $0.contains("\r") })
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
        #expect(lines.contains("MIME-Version: 1.0"))
        #expect(lines.contains("Subject: =?UTF-8?B?R3LDvMOfZQ==?="))
        #expect(lines.contains { $0.hasPrefix("Date: ") && $0.hasSuffix(" +0000") })
        #expect(lines.contains { $0.hasPrefix("Content-Type: multipart/alternative; boundary=") })
        let bodyLines = lines.drop { !$0.isEmpty }
        #expect(bodyLines.allSatisfy { $0.utf8.count <= 76 })
        #expect(raw.contains("trailing space=20"))
    }

    @Test("dot-stuffing doubles leading dots and terminates with CRLF.CRLF")
    func dotStuffing() {
        var buffer = SMTPClient.dotStuffed(Data(".a\r\nb\r\n..c\nd".utf8))
        #expect(buffer.readString(length: buffer.readableBytes) == "..a\r\nb\r\n...c\r\nd\r\n.\r\n")
    }

    @Test("backoff doubles and is capped")
    func backoff() {
        let policy = MailRetryPolicy.standard
        #expect([1, 2, 3, 4, 9, 10, 100].map { policy.delay(afterFailures: $0) } == [1, 2, 4, 8, 256, 300, 300])
    }
}
