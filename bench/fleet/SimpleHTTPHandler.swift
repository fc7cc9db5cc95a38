import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import X509

/// A minimal HTTP/1.1 server handler: collects a request (head + body) and answers it
/// with `respond` (status, JSON body), keeping the connection alive.
final class SimpleHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// (method, uri, peer certificate CN or nil) → (status, JSON object)
    typealias Responder = @Sendable (HTTPMethod, String, String?) -> (HTTPResponseStatus, Any)

    private let respond: Responder
    private let requireMonitor: Bool
    private var head: HTTPRequestHead?

    init(requireMonitor: Bool, respond: @escaping Responder) {
        self.requireMonitor = requireMonitor
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
        case .body:
            break
        case .end:
            guard let request = head else { return }
            head = nil
            var status: HTTPResponseStatus
            var object: Any
            if requireMonitor {
                let cn = Self.peerCommonName(context)
                if cn != "tollgate-monitor" {
                    (status, object) = (.forbidden, ["error": "client certificate must be CN=tollgate-monitor, O=Tollgate"])
                } else {
                    (status, object) = respond(request.method, request.uri, cn)
                }
            } else {
                (status, object) = respond(request.method, request.uri, nil)
            }
            let body = (try? JSONSerialization.data(withJSONObject: object, options: [])) ?? Data("{}".utf8)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.count))
            let keepAlive = request.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    static func peerCommonName(_ context: ChannelHandlerContext) -> String? {
        guard let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
              let certificate = handler.peerCertificate,
              let subject = certificate.commonName else { return nil }
        return subject
    }
}

extension NIOSSLCertificate {
    /// The subject CN, from OpenSSL's one-line subject form.
    var commonName: String? {
        guard let der = try? toDERBytes(), let certificate = try? Certificate(derEncoded: der) else { return nil }
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(attribute.value)
            }
        }
        return nil
    }
}
