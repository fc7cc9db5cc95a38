import NIOCore
import NIOSSL

/// One (possibly multi-line) SMTP reply: `250-first`, `250 last`.
public struct SMTPReply: Sendable, Equatable {
    public var code: Int
    /// The text of each line, without the code.
    public var lines: [String]

    public var text: String { lines.joined(separator: " / ") }
}

/// Splits the byte stream into lines (without CR LF).
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 4096 { throw SMTPLineTooLong() }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        var line = buffer.readString(length: length) ?? ""
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}

struct SMTPLineTooLong: Error {}

/// Assembles lines into replies and hands them to the client through an async stream.
final class SMTPReplyHandler: ChannelInboundHandler {
    typealias InboundIn = String

    let continuation: AsyncThrowingStream<SMTPReply, any Error>.Continuation
    // Only touched on the channel's event loop.
    private var pendingLines: [String] = []

    init(continuation: AsyncThrowingStream<SMTPReply, any Error>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)) else {
            continuation.finish(throwing: MailError.unexpectedReply(step: "reading a reply", code: 0, text: line))
            return
        }
        let more = bytes.count > 3 && bytes[3] == UInt8(ascii: "-")
        pendingLines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        if !more {
            continuation.yield(SMTPReply(code: code, lines: pendingLines))
            pendingLines = []
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is MailError: continuation.finish(throwing: error)
        case is NIOSSLError, is BoringSSLError: continuation.finish(throwing: MailError.tls("\(error); check the server certificate and trustRootsPEMFile"))
        default: continuation.finish(throwing: MailError.connectionClosed(step: "reading (\(error))"))
        }
        context.close(promise: nil)
    }
}
