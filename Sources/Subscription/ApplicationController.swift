import EST
import Foundation
import Hummingbird
import NIOCore

/// The application JSON API:
///
/// - `POST /v1/applications` (`application/json`, at most ``maximumBody`` bytes) →
///   201 `{"id","statusToken","state","verdictReason"?,"credentials"?}`;
///   400 `{"error","field"}`, 413, 415.
/// - `GET /v1/applications/{id}` with `Authorization: Bearer TOKEN` or `?token=TOKEN` →
///   200 `{"id","state","verdictReason"?,"received"}`; 404 for an unknown ID and for a
///   wrong or missing token alike.
public struct ApplicationController: Sendable {
    public let service: ApplicationService

    public init(service: ApplicationService) { self.service = service }

    /// The largest application body accepted.
    public static let maximumBody = 48 * 1024

    public func addRoutes(to router: Router<TollgateRequestContext>) {
        router.post("/v1/applications") { request, _ in await self.submit(request) }
        router.get("/v1/applications/:id") { request, context in
            await self.status(request, id: context.parameters.get("id") ?? "")
        }
    }

    func submit(_ request: Request) async -> Response {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/json" else {
            return Self.error(.unsupportedMediaType, "send the application as Content-Type: application/json", field: nil)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumBody)
        } catch {
            return Self.error(.contentTooLarge, "the application is larger than \(Self.maximumBody) bytes", field: nil)
        }
        do {
            let parsed = try ApplicationRequest.decode(Data(body.readableBytesView))
            let submission = try await service.submit(parsed)
            return Self.json(.created, submission)
        } catch {
            switch error {
            case .invalidField, .malformedRequest:
                return Self.error(.badRequest, error.description, field: error.field)
            default:
                service.logger.error("application intake failed", metadata: ["error": "\(error)"])
                return Self.error(.serviceUnavailable, "the application could not be stored; retry later", field: nil)
            }
        }
    }

    struct Status: Encodable {
        var id: String
        var state: String
        var verdictReason: String?
        var received: Date
    }

    func status(_ request: Request, id: String) async -> Response {
        var token = request.uri.queryParameters.get("token")
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        guard let token, !token.isEmpty else { return Self.error(.notFound, "no such application", field: nil) }
        do {
            guard let application = try await service.status(id: id, token: token) else {
                return Self.error(.notFound, "no such application", field: nil)
            }
            return Self.json(.ok, Status(id: application.id, state: application.state, verdictReason: application.verdictReason,
                                         received: application.received))
        } catch {
            service.logger.error("application status failed", metadata: ["error": "\(error)"])
            return Self.error(.serviceUnavailable, "the directory is unavailable; retry later", field: nil)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data + Data("\n".utf8))))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, field: String?) -> Response {
        struct Body: Encodable { var error: String; var field: String? }
        return json(status, Body(error: message, field: field))
    }
}
