import Foundation
import Synchronization

/// The recorder handler for aiosmtpd: appends each message as one JSON line
/// (envelope from/to, decoded subject, text and HTML parts, raw data) to `$MAIL_RECORD`.
let recorderScript = #"""
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
    async def handle_DATA(self, server, session, envelope):
        record = parse(envelope.content)
        record["mail_from"] = envelope.mail_from
        record["rcpt_tos"] = envelope.rcpt_tos
        with open(os.environ["MAIL_RECORD"], "a") as out:
            out.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"
"""#

/// One message as received (and parsed by Python's `email` package).
struct ReceivedMail: Decodable {
    var subject: String
    var to_header: String
    var from_header: String
    var message_id: String
    var date: String
    var mime_version: String
    var content_type: String
    var text: String?
    var html: String?
    var defects: Int
    var mail_from: String?
    var rcpt_tos: [String]?
}

/// A real aiosmtpd on 127.0.0.1:`port`, recording into `recordFile`.
final class SMTPTestServer: @unchecked Sendable {
    let port: Int
    let directory: String
    let recordFile: String
    private let process = Process()

    /// Starts `python3 -m aiosmtpd` with the recorder handler (optionally with STARTTLS).
    init(port: Int, directory: String, tlsCertificate: String? = nil, tlsKey: String? = nil) async throws {
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
        startedServerPIDs.withLock { $0.append(process.processIdentifier) }
        _ = killServersAtExit
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
    func received() throws -> [ReceivedMail] {
        guard let text = try? String(contentsOfFile: recordFile, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(ReceivedMail.self, from: Data($0.utf8)) }
    }

    func stop() async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<50 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Kills the server without waiting (for `defer`; aiosmtpd ignores SIGTERM when started from the test runner).
    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

struct TestServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Parses an `.eml` file with Python's `email` package (the same parser as the server's).
func parseEML(_ path: String, scriptDirectory: String) throws -> ReceivedMail {
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

/// True when something accepts TCP connections on 127.0.0.1:`port`.
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } } == 0
}

/// A free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A fresh directory under /tmp.
func temporaryDirectory(_ tag: String) -> String {
    let path = "/tmp/tgt-mail-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs a tool from PATH and throws when it fails.
func runTool(_ tool: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestServerError(message: "\(tool) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus))")
    }
}

/// aiosmtpd processes started by this test process; killed at exit in case a test did not stop one.
let startedServerPIDs = Mutex<[Int32]>([])
let killServersAtExit: Void = {
    atexit {
        for pid in startedServerPIDs.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}()
