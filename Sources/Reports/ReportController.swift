import Crypto
import Foundation
import Hummingbird

/// `GET /reports/<org>/<period>/<YYYYmmdd>?exp=…&sig=…`: the report page, computed from the
/// directory at request time (so late samples show up), `Cache-Control: private`.
///
/// Invalid signature → 403, expired → 410, malformed → 400, unknown organisation → 404,
/// directory down → 503; each as a short HTML page saying what to do.
public struct ReportController: Sendable {
    public let source: ReportSource
    public let key: SymmetricKey

    public init(source: ReportSource, key: SymmetricKey) {
        self.source = source
        self.key = key
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/reports/:org/:period/:start") { request, context -> Response in
            let org = context.parameters.get("org") ?? ""
            let period = context.parameters.get("period") ?? ""
            let day = context.parameters.get("start") ?? ""
            let query = request.uri.queryParameters
            return await self.respond(org: org, period: period, day: day,
                                      expires: query.get("exp"), signature: query.get("sig"))
        }
    }

    /// The answer for one request's parts.
    public func respond(org: String, period: String, day: String, expires: String?, signature: String?, now: Date = Date()) async -> Response {
        do {
            let link = try ReportLink.verify(orgNumber: org, period: period, day: day, expires: expires, signature: signature, key: key, now: now)
            let analysis = try await source.analysis(orgNumber: link.orgNumber, period: link.period, start: link.start)
            return Self.html(.ok, ReportPage.html(analysis))
        } catch {
            let (status, title): (HTTPResponse.Status, String)
            switch error {
            case .tampered: (status, title) = (.forbidden, "Invalid report link")
            case .expired: (status, title) = (.gone, "Report link expired")
            case .badRequest: (status, title) = (.badRequest, "Malformed report link")
            case .notFound: (status, title) = (.notFound, "No such report")
            case .directory, .key, .mail: (status, title) = (.serviceUnavailable, "Report temporarily unavailable")
            }
            return Self.html(status, ReportPage.errorPage(status: Int(status.code), title: title, message: error.description))
        }
    }

    static func html(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "private"
        for (name, value) in [("X-Content-Type-Options", "nosniff"),
                              ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")] {
            if let field = HTTPFields.Element.Name(name) { headers[field] = value }
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
