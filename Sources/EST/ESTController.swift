import CertificateAuthority
import Foundation
import Hummingbird
import NIOCore
import NIOSSL
import X509

/// A request context that keeps the connection, so that EST re-enrolment can read the TLS
/// client certificate.
public struct TollgateRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Request bodies Tollgate decodes are small.
    public var maxUploadSize: Int { 64 * 1024 }

    /// The verified TLS client certificate, if the client sent one.
    public func clientCertificate() async -> Certificate? {
        guard let peer = try? await channel.nioSSL_peerCertificate().get(),
              let der = try? peer.toDERBytes() else { return nil }
        return try? Certificate(derEncoded: der)
    }
}

/// EST (RFC 7030) over HTTPS, as strongSwan's `pki --est`/`--estca` speak it:
/// `/.well-known/est[/LABEL]/cacerts`, `/simpleenroll`, `/simplereenroll`.
///
/// Answers are single-line base64 of a DER certs-only CMS SignedData with a
/// Content-Length; errors are plain text with the status that fits (401 with
/// `WWW-Authenticate`, 403, 400, 413, 503), a subscriber under review gets 202 with
/// `Retry-After`.
public struct ESTController: Sendable {
    public let service: EnrollmentService

    public init(service: EnrollmentService) { self.service = service }

    /// The largest EST request body accepted (a CSR, base64).
    public static let maximumBody = 32 * 1024

    public func addRoutes(to router: Router<TollgateRequestContext>) {
        for prefix in ["/.well-known/est", "/.well-known/est/:label"] {
            router.get("\(prefix)/cacerts") { _, _ in self.caCertificates() }
            router.post("\(prefix)/simpleenroll") { request, context in
                await self.respond { () async throws(ESTError) -> Response in
                    let body = try await Self.body(request)
                    let credentials = request.headers[.authorization].flatMap(BasicCredentials.init(authorization:))
                    let outcome: EnrollmentService.Outcome
                    do throws(ESTError) {
                        outcome = try await self.service.enroll(credentials: credentials, csrBody: body)
                    } catch {
                        EnrollmentMetrics.count(reenroll: false, EnrollmentMetrics.result(error))
                        throw error
                    }
                    switch outcome {
                    case .issued(let issued):
                        EnrollmentMetrics.count(reenroll: false, "issued")
                        return Self.certsOnly([issued.certificate])
                    case .pending(let retryAfter):
                        EnrollmentMetrics.count(reenroll: false, "pending")
                        var headers = HTTPFields()
                        headers[.retryAfter] = String(retryAfter)
                        headers[.contentType] = "text/plain; charset=utf-8"
                        return Response(status: .accepted, headers: headers,
                                        body: .init(byteBuffer: ByteBuffer(string: "the subscription is under review; retry in \(retryAfter) s\n")))
                    }
                }
            }
            router.post("\(prefix)/simplereenroll") { request, context in
                await self.respond { () async throws(ESTError) -> Response in
                    let body = try await Self.body(request)
                    let issued: IssuedCertificate
                    do throws(ESTError) {
                        issued = try await self.service.reenroll(clientCertificate: await context.clientCertificate(), csrBody: body)
                    } catch {
                        EnrollmentMetrics.count(reenroll: true, EnrollmentMetrics.result(error))
                        throw error
                    }
                    EnrollmentMetrics.count(reenroll: true, "issued")
                    return Self.certsOnly([issued.certificate])
                }
            }
        }
    }

    func caCertificates() -> Response {
        Self.certsOnly([service.authority.rootCertificate, service.authority.issuingCertificate])
    }

    /// A 200 answer with the certificates as single-line base64 certs-only CMS.
    static func certsOnly(_ certificates: [Certificate]) -> Response {
        let der: [UInt8]
        do {
            der = try CertsOnlyPKCS7.encode(certificates)
        } catch {
            return text(.internalServerError, "cannot encode the certificates: \(error)")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/pkcs7-mime; smime-type=certs-only"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: Data(der).base64EncodedString())))
    }

    static func text(_ status: HTTPResponse.Status, _ message: String, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    static func body(_ request: Request) async throws(ESTError) -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: maximumBody)
            return Array(buffer.readableBytesView)
        } catch {
            throw .payloadTooLarge(maximumBody)
        }
    }

    func respond(_ body: () async throws(ESTError) -> Response) async -> Response {
        do {
            return try await body()
        } catch {
            service.logger.notice("EST request refused", metadata: ["reason": "\(error)"])
            var headers = HTTPFields()
            if case .unauthorized = error { headers[.wwwAuthenticate] = "Basic realm=\"tollgate-est\"" }
            return Self.text(error.status, error.description, headers: headers)
        }
    }
}
