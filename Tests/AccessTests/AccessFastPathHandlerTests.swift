@testable import Access
import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

/// The event-loop fast path on an embedded channel: which requests it takes, which it
/// passes to the router, and that answers never overtake a router response.
@Suite("AccessFastPathHandler")
struct AccessFastPathHandlerTests {
    let service = AccessService(replica: PolicyReplica(staleBound: 0), history: nil)

    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(AccessFastPathHandler(service: service))
        return channel
    }

    func request(_ method: HTTPRequest.Method, _ path: String, contentType: String? = "application/json") -> HTTPRequest {
        var fields = HTTPFields()
        if let contentType { fields[.contentType] = contentType }
        return HTTPRequest(method: method, scheme: "https", authority: "localhost", path: path, headerFields: fields)
    }

    func send(_ channel: EmbeddedChannel, _ head: HTTPRequest, body: String = "{}") throws {
        try channel.writeInbound(HTTPRequestPart.head(head))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: body)))
        try channel.writeInbound(HTTPRequestPart.end(nil))
    }

    /// The response the handler wrote: status and body text.
    func response(_ channel: EmbeddedChannel) throws -> (status: Int, body: String)? {
        guard case .head(let head)? = try channel.readOutbound(as: HTTPResponsePart.self) else { return nil }
        var text = ""
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
            if case .body(let buffer) = part { text += String(buffer: buffer) }
            if case .end = part { break }
        }
        return (head.status.code, text)
    }

    @Test("a check is answered by the handler (here 503: the replica never synced) and not passed on")
    func answersCheck() throws {
        let channel = try channel()
        try send(channel, request(.post, "/v1/access/check"), body: #"{"destination":"10.20.3.4","protocol":"tcp","port":443}"#)
        let answer = try #require(try response(channel))
        #expect(answer.status == 503 && answer.body.contains("directory-unavailable") && answer.body.contains(#""allow":false"#), "\(answer)")
        #expect(try channel.readInbound(as: HTTPRequestPart.self) == nil, "nothing reached the router")
    }

    @Test("a batch is answered by the handler too, in the router's error form")
    func answersBatch() throws {
        let channel = try channel()
        try send(channel, request(.post, "/v1/access/batch"), body: #"{"checks":[{"destination":"10.20.3.4"},{"destination":"2001:db8::1"}]}"#)
        let answer = try #require(try response(channel))
        #expect(answer.status == 503 && answer.body.contains("directory-unavailable"), "\(answer)")
        #expect(try channel.readInbound(as: HTTPRequestPart.self) == nil, "nothing reached the router")
        try send(channel, request(.post, "/v1/access/batch", contentType: "text/plain"))
        #expect(try response(channel)?.status == 415)
    }

    @Test("content type and size are checked as the router does: 415, 413")
    func checksBody() throws {
        let channel = try channel()
        try send(channel, request(.post, "/v1/access/check", contentType: "text/plain"))
        #expect(try response(channel)?.status == 415)
        try send(channel, request(.post, "/v1/access/check"), body: String(repeating: " ", count: AccessController.maximumBody + 1))
        #expect(try response(channel)?.status == 413)
    }

    @Test("other requests pass through unchanged; a check behind an unanswered router request goes to the router too")
    func passesThrough() throws {
        let channel = try channel()
        try send(channel, request(.get, "/v1/policy"))
        guard case .head(let head)? = try channel.readInbound(as: HTTPRequestPart.self) else {
            Issue.record("the policy request did not reach the router")
            return
        }
        #expect(head.path == "/v1/policy")
        #expect(try channel.readInbound(as: HTTPRequestPart.self).map { if case .body = $0 { true } else { false } } == true)
        #expect(try channel.readInbound(as: HTTPRequestPart.self).map { if case .end = $0 { true } else { false } } == true)
        // The router has not answered yet: a pipelined check must wait its turn behind it.
        try send(channel, request(.post, "/v1/access/check"))
        guard case .head(let queued)? = try channel.readInbound(as: HTTPRequestPart.self) else {
            Issue.record("the pipelined check was answered ahead of the router's response")
            return
        }
        #expect(queued.path == "/v1/access/check")
        _ = try channel.readInbound(as: HTTPRequestPart.self)
        _ = try channel.readInbound(as: HTTPRequestPart.self)
        // Both router responses end; the next check is the handler's again.
        for _ in 0..<2 {
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }
        while try channel.readOutbound(as: HTTPResponsePart.self) != nil {}
        try send(channel, request(.post, "/v1/access/check"))
        #expect(try response(channel)?.status == 503)
        #expect(try channel.readInbound(as: HTTPRequestPart.self) == nil)
    }
}
