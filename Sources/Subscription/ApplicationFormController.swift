import Directory
import EST
import Foundation
import Hummingbird
import NIOCore

/// The application form for people, `/apply` (HTML, no JavaScript):
///
/// - `GET /apply` → the form (2 converter rows, 3 destination rows).
/// - `POST /apply` (`application/x-www-form-urlencoded`, at most ``maximumBody`` bytes):
///   `action=add-converter|add-destination` returns the form with one more row (values
///   kept); `action=submit` validates with the JSON API's rules
///   (``ApplicationRequest/problems()``) and either returns the form again (400) with each
///   error next to its field and every value kept, or stores the application and shows
///   its ID, the status token (once) and the status URL (201).
///
/// CSRF: every rendering carries a ``FormToken`` (HMAC, 2 hours, single use) and a POST
/// whose `Sec-Fetch-Site` is not `same-origin` or whose `Origin` is not this server is
/// refused (403). Pages are `no-store` and forbid framing and scripts (CSP).
public struct ApplicationFormController: Sendable {
    public let service: ApplicationService
    /// Base URL for the status URL shown (`https://tollgate.example.net:8443`); nil: the
    /// request's own scheme and host.
    public let publicURL: String?
    /// `https`, or `http` with `serve --plain-http`.
    public let scheme: String
    let tokens = FormToken()

    /// The largest form body accepted.
    public static let maximumBody = 64 * 1024

    public init(service: ApplicationService, scheme: String = "https", publicURL: String? = nil) {
        self.service = service
        self.scheme = scheme
        self.publicURL = publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    var page: ApplicationFormPage {
        ApplicationFormPage(models: service.rules.minimumFirmware.keys.sorted(), billingMethods: Subscriber.billingMethods,
                            protocols: Destination.protocols, maximumConverters: max(1, service.rules.maxConverters),
                            maximumDestinations: max(1, service.rules.maxDestinations))
    }

    public func addRoutes(to router: Router<TollgateRequestContext>) {
        router.get("/apply") { _, _ in
            Self.html(.ok, page.form(ApplicationForm(), errors: [:], notice: nil, token: tokens.issue()))
        }
        router.post("/apply") { request, _ in await self.post(request) }
    }

    func post(_ request: Request) async -> Response {
        if let refusal = crossSiteRefusal(request) {
            return Self.html(.forbidden, ApplicationFormPage.message(title: "Refused", text: refusal))
        }
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else {
            return Self.html(.unsupportedMediaType, ApplicationFormPage.message(
                title: "Unsupported form encoding", text: "Send the form as application/x-www-form-urlencoded (the form on /apply does)."))
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumBody)
        } catch {
            return Self.html(.contentTooLarge, ApplicationFormPage.message(
                title: "Application too large", text: "The form is larger than \(Self.maximumBody / 1024) KiB. Shorten the longest fields and submit again."))
        }
        guard let fields = FormEncoding.decode(String(decoding: body.readableBytesView, as: UTF8.self)) else {
            return Self.html(.badRequest, ApplicationFormPage.message(title: "Malformed form", text: "The form data could not be decoded (bad percent-escapes)."))
        }
        let page = self.page
        var form = ApplicationForm(fields: fields, maximumConverters: page.maximumConverters, maximumDestinations: page.maximumDestinations)
        let action = fields.first { $0.0 == "action" }?.1 ?? "submit"
        switch action {
        case "add-converter", "add-destination":
            var notice: String?
            if action == "add-converter" {
                if form.converters.count < page.maximumConverters { form.converters.append(.init()) } else {
                    notice = "At most \(page.maximumConverters) converters per application."
                }
            } else {
                if form.destinations.count < page.maximumDestinations { form.destinations.append(.init()) } else {
                    notice = "At most \(page.maximumDestinations) destinations per application."
                }
            }
            return Self.html(.ok, page.form(form, errors: [:], notice: notice, token: tokens.issue()))
        default:
            break
        }

        let token = fields.first { $0.0 == "formToken" }?.1 ?? ""
        switch tokens.redeem(token) {
        case .valid: break
        case .expired:
            return Self.html(.forbidden, page.form(form, errors: [:], notice: "The form was open too long. Check your entries and submit again.", token: tokens.issue()))
        case .used:
            return Self.html(.forbidden, page.form(form, errors: [:], notice: "This form was submitted already (see the application ID shown then). Submit again only for a new application.", token: tokens.issue()))
        case .invalid:
            return Self.html(.forbidden, page.form(form, errors: [:], notice: "The form could not be verified (the server may have restarted). Check your entries and submit again.", token: tokens.issue()))
        }

        let (applicationRequest, formProblems, mapping) = form.request()
        let problems = formProblems + applicationRequest.problems().map {
            InvalidFieldError(field: mapping.formField($0.field), message: $0.message)
        }
        guard problems.isEmpty else {
            return Self.html(.badRequest, page.form(form, errors: Self.byField(problems), notice: nil, token: tokens.issue()))
        }
        do {
            let submission = try await service.submit(applicationRequest)
            let base = publicURL ?? "\(scheme)://\(Self.safeAuthority(request))"
            return Self.html(.created, page.received(
                id: submission.id, token: submission.statusToken, state: submission.state, verdict: submission.verdictReason,
                statusURL: "\(base)/v1/applications/\(submission.id)", credentials: submission.credentials, mail: applicationRequest.mail))
        } catch {
            switch error {
            case .invalidField(let problem):
                let mapped = InvalidFieldError(field: mapping.formField(problem.field), message: problem.message)
                return Self.html(.badRequest, page.form(form, errors: Self.byField([mapped]), notice: nil, token: tokens.issue()))
            default:
                service.logger.error("application intake (form) failed", metadata: ["error": "\(error)"])
                return Self.html(.serviceUnavailable, page.form(form, errors: [:], notice: "Your application could not be stored just now. Nothing was filed; please submit again in a minute.", token: tokens.issue()))
            }
        }
    }

    /// Why a POST is refused as cross-site, or nil. `Sec-Fetch-Site`, when the browser
    /// sends it, must be `same-origin` (or `none`); an `Origin` must name this server. An
    /// `Origin: null` (sent by browsers whose referrer policy hides origins) counts only
    /// when there is no `Sec-Fetch-Site` to decide.
    func crossSiteRefusal(_ request: Request) -> String? {
        let site = request.headers[FieldName("Sec-Fetch-Site")!]?.lowercased()
        if let site, site != "same-origin", site != "none" {
            return "The form was sent from another web site (\(site.prefix(40))). Open /apply on this server and submit it from there."
        }
        guard let origin = request.headers[FieldName("Origin")!] else { return nil }
        if origin == "null" && site != nil { return nil }
        let authority = Self.authority(request)?.lowercased()
        let originHost = origin.range(of: "://").map { String(origin[$0.upperBound...]).lowercased() }
        if originHost == nil || originHost != authority {
            return "The form was sent from another origin (\(origin.prefix(100))). Open /apply on this server and submit it from there."
        }
        return nil
    }

    static func authority(_ request: Request) -> String? {
        request.head.authority ?? request.headers[FieldName("Host")!]
    }

    /// The request's host for links, when it looks like a host (else `localhost`).
    static func safeAuthority(_ request: Request) -> String {
        guard let value = authority(request), !value.isEmpty, value.count <= 255,
              value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }) else { return "localhost" }
        return value
    }

    /// The first message per field.
    static func byField(_ problems: [InvalidFieldError]) -> [String: String] {
        var errors: [String: String] = [:]
        for problem in problems where errors[problem.field] == nil { errors[problem.field] = problem.message }
        return errors
    }

    static func html(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[FieldName("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[FieldName("X-Frame-Options")!] = "DENY"
        headers[FieldName("X-Content-Type-Options")!] = "nosniff"
        headers[FieldName("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// A header name (`HTTPField.Name`, reached through Hummingbird's exported `HTTPFields`).
typealias FieldName = HTTPFields.Element.Name
