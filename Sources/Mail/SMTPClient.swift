import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// A minimal SMTP submission client on SwiftNIO: EHLO, optional STARTTLS, optional
/// AUTH PLAIN/LOGIN, MAIL FROM, RCPT TO, DATA (dot-stuffed) and QUIT, each step bounded by
/// ``MailConfiguration/stepTimeout``. Errors are ``MailError`` values with the server's reply.
public struct SMTPClient: Sendable {
    public let configuration: MailConfiguration
    let group: any EventLoopGroup

    public init(configuration: MailConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    /// One message of a batch: RFC 5322 bytes, envelope sender and recipients.
    public struct Envelope: Sendable {
        public var message: Data
        public var from: String
        public var recipients: [String]

        public init(message: Data, from: String, recipients: [String]) {
            self.message = message
            self.from = from
            self.recipients = recipients
        }
    }

    /// Sends RFC 5322 `message` bytes from envelope sender `from` to `recipients`.
    /// Returns when the server accepted the message (250 after DATA).
    public func send(_ message: Data, from: String, to recipients: [String]) async throws {
        if let error = await send(batch: [Envelope(message: message, from: from, recipients: recipients)]).first ?? nil {
            throw error
        }
    }

    /// Sends `envelopes` over one connection: greeting, EHLO, STARTTLS and AUTH once, then
    /// MAIL FROM, RCPT TO and DATA per message (RSET after a message the server refused),
    /// QUIT at the end. Returns one entry per envelope, in order: nil when the server
    /// accepted that message (250 after its DATA), else the error. A message with an
    /// invalid address is not sent; when the connection fails, the message in progress and
    /// all after it get the error (none of them counts as accepted).
    public func send(batch envelopes: [Envelope]) async -> [(any Error)?] {
        var results = [(any Error)?](repeating: nil, count: envelopes.count)
        var valid: [Int] = []
        for (index, envelope) in envelopes.enumerated() {
            do {
                try MailAddress.validate(envelope.from)
                guard !envelope.recipients.isEmpty else { throw MailError.noRecipients }
                for recipient in envelope.recipients { try MailAddress.validate(recipient) }
                valid.append(index)
            } catch {
                results[index] = error
            }
        }
        guard !valid.isEmpty else { return results }
        guard let host = configuration.host else {
            let error = MailError.connectionFailed(host: "(none)", port: configuration.port, reason: "no SMTP host configured")
            for index in valid { results[index] = error }
            return results
        }
        let (replies, continuation) = AsyncThrowingStream.makeStream(of: SMTPReply.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(Self.timeAmount(configuration.stepTimeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                        try channel.pipeline.syncOperations.addHandler(SMTPReplyHandler(continuation: continuation))
                    }
                }
                .connect(host: host, port: configuration.port).get()
        } catch {
            continuation.finish()
            let failure = MailError.connectionFailed(host: host, port: configuration.port, reason: "\(error)")
            for index in valid { results[index] = failure }
            return results
        }
        var session = SMTPSession(channel: channel, replies: replies.makeAsyncIterator(), continuation: continuation,
                                  timeout: configuration.stepTimeout)
        var next = 0
        do {
            try await open(&session, host: host)
            while next < valid.count {
                let index = valid[next]
                do {
                    try await transfer(&session, envelopes[index])
                    next += 1
                } catch let error as MailError {
                    // A refused message: the connection is still usable after RSET.
                    guard case .unexpectedReply = error else { throw error }
                    results[index] = error
                    next += 1
                    if next < valid.count { _ = try await session.command("RSET", step: "RSET", codes: [250]) }
                }
            }
            _ = try? await session.command("QUIT", step: "QUIT", codes: [221])
        } catch {
            for index in valid[next...] { results[index] = error }
        }
        try? await channel.close()
        return results
    }

    /// Greeting, EHLO, STARTTLS when offered (or required), AUTH when configured.
    private func open(_ session: inout SMTPSession, host: String) async throws {
        _ = try await session.expect(step: "greeting", codes: [220])
        var capabilities = try await session.command("EHLO \(configuration.heloName)", step: "EHLO", codes: [250]).lines
        let offersTLS = capabilities.contains { $0.uppercased() == "STARTTLS" }
        if configuration.startTLS == .required && !offersTLS { throw MailError.startTLSUnavailable(host: host) }
        if configuration.startTLS != .none && offersTLS {
            _ = try await session.command("STARTTLS", step: "STARTTLS", codes: [220])
            try await startTLS(on: session.channel, host: host)
            capabilities = try await session.command("EHLO \(configuration.heloName)", step: "EHLO after STARTTLS", codes: [250]).lines
        }
        if let username = configuration.username {
            try await authenticate(&session, capabilities: capabilities, username: username, password: configuration.password ?? "")
        }
    }

    /// One mail transaction: MAIL FROM, RCPT TO per recipient, DATA, the message, 250.
    private func transfer(_ session: inout SMTPSession, _ envelope: Envelope) async throws {
        _ = try await session.command("MAIL FROM:<\(envelope.from)>", step: "MAIL FROM", codes: [250])
        for recipient in envelope.recipients {
            _ = try await session.command("RCPT TO:<\(recipient)>", step: "RCPT TO <\(recipient)>", codes: [250, 251])
        }
        _ = try await session.command("DATA", step: "DATA", codes: [354])
        try await session.write(Self.dotStuffed(envelope.message))
        _ = try await session.expect(step: "end of DATA", codes: [250])
    }

    private func authenticate(_ session: inout SMTPSession, capabilities: [String], username: String, password: String) async throws {
        let auth = capabilities.first { $0.uppercased().hasPrefix("AUTH") }
        let mechanisms = auth.map { $0.uppercased().split(whereSeparator: { $0 == " " || $0 == "=" }).dropFirst().map(String.init) } ?? []
        if mechanisms.contains("PLAIN") {
            let token = Data("\0\(username)\0\(password)".utf8).base64EncodedString()
            _ = try await session.command("AUTH PLAIN \(token)", step: "AUTH PLAIN", codes: [235])
        } else if mechanisms.contains("LOGIN") {
            _ = try await session.command("AUTH LOGIN", step: "AUTH LOGIN", codes: [334])
            _ = try await session.command(Data(username.utf8).base64EncodedString(), step: "AUTH LOGIN user name", codes: [334])
            _ = try await session.command(Data(password.utf8).base64EncodedString(), step: "AUTH LOGIN password", codes: [235])
        } else {
            throw MailError.authenticationUnavailable(offered: mechanisms.joined(separator: " "))
        }
    }

    private func startTLS(on channel: any Channel, host: String) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let file = configuration.trustRootsPEMFile { tls.trustRoots = .file(file) }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw MailError.tls("cannot build TLS context (\(error)); check the trust roots file")
        }
        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        try await channel.eventLoop.submit {
            let handler = try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }.get()
    }

    /// `message` with CRLF line endings, a dot doubled at each line start and the final `.` line.
    static func dotStuffed(_ message: Data) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.count + 64)
        var atLineStart = true
        var previous: UInt8 = 0
        for byte in message {
            if byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r") { buffer.writeInteger(UInt8(ascii: "\r")) }
            if atLineStart && byte == UInt8(ascii: ".") { buffer.writeInteger(UInt8(ascii: ".")) }
            buffer.writeInteger(byte)
            atLineStart = byte == UInt8(ascii: "\n")
            previous = byte
        }
        if !atLineStart { buffer.writeString("\r\n") }
        buffer.writeString(".\r\n")
        return buffer
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// The state of one SMTP conversation (used by one task only).
struct SMTPSession {
    let channel: any Channel
    var replies: AsyncThrowingStream<SMTPReply, any Error>.AsyncIterator
    let continuation: AsyncThrowingStream<SMTPReply, any Error>.Continuation
    let timeout: Duration

    mutating func command(_ line: String, step: String, codes: Set<Int>) async throws -> SMTPReply {
        try await write(ByteBuffer(string: line + "\r\n"))
        return try await expect(step: step, codes: codes)
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        do {
            try await channel.writeAndFlush(buffer)
        } catch {
            // The reason the channel closed (TLS failure, timeout) is waiting in the reply stream.
            _ = try await replies.next()
            throw MailError.connectionClosed(step: "writing (\(error))")
        }
    }

    /// The next reply; throws unless its code is one of `codes`, or after `timeout`.
    mutating func expect(step: String, codes: Set<Int>) async throws -> SMTPReply {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let continuation = self.continuation
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: SMTPClient.timeAmount(timeout)) {
            continuation.finish(throwing: MailError.timeout(step: step, seconds: seconds))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        guard let reply = try await replies.next() else { throw MailError.connectionClosed(step: step) }
        guard codes.contains(reply.code) else {
            throw MailError.unexpectedReply(step: step, code: reply.code, text: reply.text)
        }
        return reply
    }
}
