import CertificateAuthority
import EST
import Foundation
import Hummingbird
import NIOCore
import NIOSSL

/// The converter API over mTLS: `POST /v1/access/check`, `POST /v1/access/batch`,
/// `GET /v1/policy` (see docs/access.md). The tenant and converter come from the TLS
/// client certificate only, never from the request.
public struct AccessController: Sendable {
    public let service: AccessService
    private let serials = ConnectionSerials()

    /// Largest request body (413 beyond).
    public static let maximumBody = 64 * 1024
    /// Most checks in one batch.
    public static let maximumBatch = 256
    /// Longest long-poll of `GET /v1/policy?wait=N`, seconds.
    public static let maximumWait = 300

    public init(service: AccessService) { self.service = service }

    public func addRoutes(to router: Router<TollgateRequestContext>) {
        router.post("/v1/access/check") { request, context in
            await respond { () async throws(AccessAPIError) -> Response in
                let freshness = try service.requireUsableReplica()
                let identity = try service.authenticate(serial: await serials.serial(of: context.channel))
                let body = try await Self.jsonBody(request)
                let check = try CheckRequest.decode(body)
                let answer = await service.check([check], for: identity, freshness: freshness)[0]
                return Self.json(.ok, Self.encode(answer, identity))
            }
        }
        router.post("/v1/access/batch") { request, context in
            await respond { () async throws(AccessAPIError) -> Response in
                let freshness = try service.requireUsableReplica()
                let identity = try service.authenticate(serial: await serials.serial(of: context.channel))
                let body = try await Self.jsonBody(request)
                let checks = try CheckRequest.decodeBatch(body, limit: Self.maximumBatch)
                let answers = await service.check(checks, for: identity, freshness: freshness)
                return Self.json(.ok, Self.encode(answers, identity))
            }
        }
        router.get("/v1/policy") { request, context in
            await respond { () async throws(AccessAPIError) -> Response in
                _ = try service.requireUsableReplica()
                let identity = try service.authenticate(serial: await serials.serial(of: context.channel))
                let wait = try Self.waitSeconds(request)
                var policy = service.replica.policy(identity.org)
                if let tags = request.headers[.ifNoneMatch], Self.matches(tags, policy.version) {
                    guard wait > 0, await service.replica.waitForChange(org: identity.org, from: policy.version,
                                                                       timeout: .seconds(wait)) else {
                        return Self.notModified(policy.version)
                    }
                    policy = service.replica.policy(identity.org)
                }
                // Re-check: the directory may have gone away during a long-poll.
                let freshness = try service.requireUsableReplica()
                var json = JSONWriter()
                json.beginObject()
                    json.field("org", identity.org)
                    json.field("converter", identity.name)
                    json.field("version", policy.version)
                    json.field("stale", freshness.isStale)
                    json.field("ttl", service.ttl)
                    json.key("destinations")
                    json.raw(policy.destinationsJSON)
                json.endObject()
                var response = Self.json(.ok, json.text)
                response.headers[.eTag] = "\"\(policy.version)\""
                return response
            }
        }
    }

    // MARK: - Request parts

    /// The body of a JSON request: 415 for another content type, 413 beyond the limit.
    static func jsonBody(_ request: Request) async throws(AccessAPIError) -> [UInt8] {
        try requireJSON(request.headers[.contentType])
        do {
            let buffer = try await request.body.collect(upTo: maximumBody)
            return Array(buffer.readableBytesView)
        } catch {
            throw AccessAPIError(.contentTooLarge, "payload-too-large",
                                 "the body is larger than \(maximumBody) bytes; send at most \(maximumBatch) checks per batch")
        }
    }

    /// 415 unless the Content-Type is `application/json` (parameters and case ignored).
    static func requireJSON(_ value: String?) throws(AccessAPIError) {
        // The common exact spelling without splitting or case folding.
        if value == "application/json" { return }
        let type = value?.split(separator: ";").first.map { CheckRequest.trimmed(String($0)).lowercased() }
        guard type == "application/json" else {
            throw AccessAPIError(.unsupportedMediaType, "unsupported-media-type",
                                 "send the body as Content-Type: application/json (got \(type.map { "\"\($0.prefix(60))\"" } ?? "none"))")
        }
    }

    /// `?wait=N` (0 to 300 seconds; absent means 0).
    static func waitSeconds(_ request: Request) throws(AccessAPIError) -> Int {
        guard let text = request.uri.queryParameters["wait"].map(String.init) else { return 0 }
        guard let seconds = Int(text), (0...maximumWait).contains(seconds) else {
            throw .invalid("wait", "wait must be a whole number of seconds from 0 to \(maximumWait)")
        }
        return seconds
    }

    /// Whether an If-None-Match header names `version` (`"v"`, `W/"v"` or `*`).
    static func matches(_ header: String, _ version: String) -> Bool {
        for part in header.split(separator: ",") {
            var tag = CheckRequest.trimmed(String(part))
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag == "\"\(version)\"" { return true }
        }
        return false
    }

    // MARK: - Responses

    static func encode(_ answer: AccessService.Answer, _ identity: ConverterIdentity) -> String {
        var json = JSONWriter()
        json.beginObject()
            json.field("allow", answer.decision.allow)
            json.field("reason", answer.decision.reason)
            json.field("rule", answer.decision.rule)
            json.field("ttl", answer.ttl)
            json.field("stale", answer.stale)
            json.field("policyVersion", answer.policyVersion)
            json.field("org", identity.org)
            json.field("converter", identity.name)
            json.field("destination", answer.request.destination)
            json.key("addresses")
            json.beginArray()
            for address in answer.decision.addresses { json.string(address.description) }
            json.endArray()
        json.endObject()
        return json.text
    }

    /// The batch answer: `{"results":[…]}` in the order of the checks.
    static func encode(_ answers: [AccessService.Answer], _ identity: ConverterIdentity) -> String {
        var json = JSONWriter()
        json.beginObject()
            json.key("results")
            json.beginArray()
            for answer in answers { json.raw(encode(answer, identity)) }
            json.endArray()
        json.endObject()
        return json.text
    }

    /// The JSON of either form: one answer for `/check`, `{"results":[…]}` for `/batch`.
    static func encode(_ answers: [AccessService.Answer], _ identity: ConverterIdentity, batch: Bool) -> String {
        if !batch, let answer = answers.first { return encode(answer, identity) }
        return encode(answers, identity)
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func notModified(_ version: String) -> Response {
        var headers = HTTPFields()
        headers[.eTag] = "\"\(version)\""
        return Response(status: .notModified, headers: headers)
    }

    func respond(_ body: () async throws(AccessAPIError) -> Response) async -> Response {
        do throws(AccessAPIError) {
            return try await body()
        } catch {
            if error.status != .ok {
                service.logger.debug("access request refused", metadata: ["status": "\(error.status.code)", "reason": "\(error.message)"])
            }
            return Self.json(error.status, error.json)
        }
    }
}
