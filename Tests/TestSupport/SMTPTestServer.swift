import Foundation

/// The recorder handler for aiosmtpd: appends each message as one JSON line
/// (envelope from/to, decoded subject, text and HTML parts, raw data) to `$MAIL_RECORD`.
/// Recipients `refused@…` are refused (550), to test a refused message among others.
public let recorderScript = #"""
import email, email.policy, json, os

def parse(data):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    text = html = None
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and text is None:
            text = part.get_content().replace("\r\n", "\n")
        elif part.get_content_type() == "text/html" and html is None:
            html = part.get_content().replace("\r\n", "\n")
    return {"subject": str(msg["subject"]), "to_header": str(msg["to"]), "from_header": str(msg["from"]),
            "message_id": str(msg["message-id"]), "date": str(msg["date"]), "mime_version": str(msg["mime-version"]),
            "content_type": msg.get_content_type(), "text": text, "html": html, "defects": len(msg.defects)}

class Recorder:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        record = parse(envelope.content)
        record["mail_from"] = envelope.mail_from
        record["rcpt_tos"] = envelope.rcpt_tos
        with open(os.environ["MAIL_RECORD"], "a") as out:
            out.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"
"""#

/// One message as received (and parsed by Python's `email` package).
public struct ReceivedMail: Decodable, Sendable {
    public var subject: String
    public var to_header: String
    public var from_header: String
    public var message_id: String
    public var date: String
    public var mime_version: String
    public var content_type: String
    public var text: String?
    public var html: String?
    public var defects: Int
    public var mail_from: String?
    public var rcpt_tos: [String]?
}

/// A real aiosmtpd on 127.0.0.1:`port`, recording into `recordFile`.
public final class SMTPTestServer: @unchecked Sendable {
    public let port: Int
    public let directory: String
    public let recordFile: String
    private let process = Process()

    /// Starts `python3 -m aiosmtpd` with the recorder handler (optionally with STARTTLS).
    public init(port: Int, directory: String, tlsCertificate: String? = nil, tlsKey: String? = nil) async throws {
        self.port = port
        self.directory = directory
        self.recordFile = "\(directory)/received.jsonl"
        try recorderScript.write(toFile: "\(directory)/tgrecorder.py", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "tgrecorder.Recorder"]
        if let tlsCertificate, let tlsKey { arguments += ["--tlscert", tlsCertificate, "--tlskey", tlsKey] }
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = directory
        environment["MAIL_RECORD"] = recordFile
        process.environment = environment
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        _ = FileManager.default.createFile(atPath: "\(directory)/aiosmtpd.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: "\(directory)/aiosmtpd.log")
        try process.run()
        ProcessCleanup.atExit(process.processIdentifier, signal: SIGKILL)
        for _ in 0..<100 {
            if canConnect(port: port) { return }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOfFile: "\(directory)/aiosmtpd.log", encoding: .utf8)) ?? ""
        await stop()
        throw TestServerError(message: "aiosmtpd did not start on port \(port) (pip install aiosmtpd): \(log)")
    }

    /// Messages received so far.
    public func received() throws -> [ReceivedMail] {
        guard let text = try? String(contentsOfFile: recordFile, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(ReceivedMail.self, from: Data($0.utf8)) }
    }

    public func stop() async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<50 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Kills the server without waiting (for `defer`; aiosmtpd ignores SIGTERM when started from the test runner).
    public func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

public struct TestServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

/// Parses an `.eml` file with Python's `email` package (the same parser as the server's).
public func parseEML(_ path: String, scriptDirectory: String) throws -> ReceivedMail {
    try recorderScript.write(toFile: "\(scriptDirectory)/tgrecorder.py", atomically: true, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import json, sys, tgrecorder; print(json.dumps(tgrecorder.parse(open(sys.argv[1], 'rb').read())))", path]
    var environment = ProcessInfo.processInfo.environment
    environment["PYTHONPATH"] = scriptDirectory
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return try JSONDecoder().decode(ReceivedMail.self, from: data)
}
