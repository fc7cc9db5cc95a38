import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import NIOSSL

/// Answers `POST /v1/access/check` and `POST /v1/access/batch` on the connection's event
/// loop, before the request reaches Hummingbird's router and its task per request: the
/// busiest converter calls cost one pass through this handler and one write.
///
/// It sits in each HTTP/1 connection's pipeline after the HTTP codec (Hummingbird's
/// `additionalChannelHandlers`). A request is taken here only when nothing is in flight
/// to the router on the same connection (so answers never overtake each other) and its
/// target is exactly one of those two paths with method POST; everything else passes through
/// untouched. Questions naming a DNS destination are answered the same way, after the
/// resolver, with further requests held back meanwhile. Answers, errors and history are
/// those of ``AccessController``: same service, same JSON.
public final class AccessFastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// Reading the body of a request this handler answers.
        case collecting(HTTPRequest, ByteBuffer, tooLarge: Bool)
        /// Passing a request's parts on to the router.
        case forwarding
        /// Waiting for the resolver; later parts are queued.
        case resolving
    }

    private let service: AccessService
    private var state = State.idle
    /// Requests passed to the router whose response has not ended yet.
    private var routerInFlight = 0
    /// Parts that arrived while a resolver answer was pending.
    private var queued: [HTTPRequestPart] = []
    /// The client certificate's serial: read once per connection.
    private var serial: String??

    public init(service: AccessService) { self.service = service }

    static let checkPath = "/v1/access/check"
    static let batchPath = "/v1/access/batch"

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .resolving = state {
            queued.append(part)
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(let head)):
            if routerInFlight == 0, head.method == .post, head.path == Self.checkPath || head.path == Self.batchPath {
                var body = context.channel.allocator.buffer(capacity: 256)
                body.clear()
                state = .collecting(head, body, tooLarge: false)
            } else {
                routerInFlight += 1
                state = .forwarding
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.collecting(let head, var body, let tooLarge), .body(var chunk)):
            state = .idle  // drop the reference while appending (no copy of the buffer)
            let over = tooLarge || body.readableBytes + chunk.readableBytes > AccessController.maximumBody
            if !over { body.writeBuffer(&chunk) }
            state = .collecting(head, body, tooLarge: over)
        case (.collecting(let head, let body, let tooLarge), .end):
            state = .idle
            answer(head, body, tooLarge: tooLarge, context: context)
        case (.forwarding, .end):
            state = .idle
            context.fireChannelRead(wrapInboundOut(part))
        case (.forwarding, _):
            context.fireChannelRead(wrapInboundOut(part))
        default:
            // A part out of order (the codec never sends one): let the router deal with it.
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routerInFlight = max(0, routerInFlight - 1) }
        context.write(data, promise: promise)
    }

    // MARK: - Answering

    private func answer(_ head: HTTPRequest, _ body: ByteBuffer, tooLarge: Bool, context: ChannelHandlerContext) {
        let close = head.headerFields[.connection]?.lowercased().contains("close") == true
        do throws(AccessAPIError) {
            try AccessController.requireJSON(head.headerFields[.contentType])
            if tooLarge {
                throw AccessAPIError(.contentTooLarge, "payload-too-large",
                                     "the body is larger than \(AccessController.maximumBody) bytes; send at most \(AccessController.maximumBatch) checks per batch")
            }
            let freshness = try service.requireUsableReplica()
            let identity = try service.authenticate(serial: peerSerial(context))
            let batch = head.path == Self.batchPath
            let checks = try Self.decode(Array(body.readableBytesView), batch: batch)
            if let answers = service.checkImmediately(checks, for: identity, freshness: freshness) {
                respond(.ok, AccessController.encode(answers, identity, batch: batch), close: close, context: context)
                return
            }
            // A DNS name: resolve off the event loop, hold later requests back meanwhile.
            state = .resolving
            let loop = context.eventLoop
            let boundContext = NIOLoopBound(context, eventLoop: loop)
            let handler = NIOLoopBound(self, eventLoop: loop)
            let service = self.service
            Task {
                let answers = await service.check(checks, for: identity, freshness: freshness)
                let text = AccessController.encode(answers, identity, batch: batch)
                loop.execute {
                    handler.value.respond(.ok, text, close: close, context: boundContext.value)
                    handler.value.resume(context: boundContext.value)
                }
            }
        } catch {
            if error.status != .ok {
                service.logger.debug("access request refused", metadata: ["status": "\(error.status.code)", "reason": "\(error.message)"])
            }
            respond(error.status, error.json, close: close, context: context)
        }
    }

    /// The checks of a body: one, or the batch's.
    private static func decode(_ bytes: [UInt8], batch: Bool) throws(AccessAPIError) -> [CheckRequest] {
        batch ? try CheckRequest.decodeBatch(bytes, limit: AccessController.maximumBatch) : [try CheckRequest.decode(bytes)]
    }

    /// Continues with the parts that arrived while resolving.
    private func resume(context: ChannelHandlerContext) {
        state = .idle
        while !queued.isEmpty {
            let part = queued.removeFirst()
            handle(part, context: context)
            if case .resolving = state { return }
        }
    }

    private func peerSerial(_ context: ChannelHandlerContext) -> String? {
        if let serial { return serial }
        let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
        let value = certificate.map { ConnectionSerials.hex($0.serialNumber) }
        serial = .some(value)
        return value
    }

    private func respond(_ status: HTTPResponse.Status, _ text: String, close: Bool, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(buffer.readableBytes)
        if close { fields[.connection] = "close" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        if close {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
