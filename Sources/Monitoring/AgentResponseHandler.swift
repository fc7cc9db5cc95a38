import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS

/// One request to an agent: written by ``AgentResponseHandler``, answered through `promise`.
struct AgentRequest: Sendable {
    var head: HTTPRequestHead
    var promise: EventLoopPromise<AgentResponse>
}

/// An agent's answer.
public struct AgentResponse: Sendable {
    public var status: Int
    public var body: ByteBuffer
}

/// Pipelines requests on one keep-alive HTTP/1.1 connection: answers complete the
/// oldest waiting request; a closed or failed connection fails all of them. Also reports
/// the end of the TLS handshake.
final class AgentResponseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = AgentRequest
    typealias OutboundOut = HTTPClientRequestPart

    /// The largest answer body accepted (a traffic page of 10000 records is ~2 MB).
    static let maximumBody = 32 * 1024 * 1024

    private var waiting = CircularBuffer<EventLoopPromise<AgentResponse>>()
    private var status = 0
    private var body: ByteBuffer?
    private let handshake: EventLoopPromise<Void>

    init(handshake: EventLoopPromise<Void>) {
        self.handshake = handshake
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(request.promise)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status.code >= 200 {
                status = Int(head.status.code)
                body = context.channel.allocator.buffer(capacity: 0)
            }
        case .body(var chunk):
            guard (body?.readableBytes ?? 0) + chunk.readableBytes <= Self.maximumBody else {
                fail(MonitorError.protocolViolation("answer larger than \(Self.maximumBody) bytes"), context: context)
                return
            }
            body?.writeBuffer(&chunk)
        case .end:
            guard status != 0, let promise = waiting.popFirst() else { return }
            promise.succeed(AgentResponse(status: status, body: body ?? ByteBuffer()))
            status = 0
            body = nil
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            handshake.succeed(())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error = MonitorError.unreachable("the agent closed the connection")
        handshake.fail(error)
        while let promise = waiting.popFirst() { promise.fail(error) }
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        handshake.fail(error)
        while let promise = waiting.popFirst() { promise.fail(error) }
        context.close(promise: nil)
    }
}
