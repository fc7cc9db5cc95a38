import CertificateAuthority
import Foundation
import X509

/// EST (RFC 7030) as Tollgate serves it: `/cacerts`, `/simpleenroll` with HTTP Basic
/// (subscriber ID and signature), `/simplereenroll` with the current certificate as TLS
/// client certificate. Bodies are base64 DER; answers certs-only CMS.
public struct ESTClient: Sendable {
    public let client: HTTPSClient

    public init(client: HTTPSClient) { self.client = client }

    /// What `/simpleenroll` answered.
    public enum EnrollAnswer: Sendable {
        case issued(Certificate)
        /// 202: the subscription is under review; ask again after this many seconds.
        case pending(retryAfter: Int, message: String)
    }

    /// `GET /.well-known/est/cacerts`.
    public func caCertificates() async throws(AgentError) -> [Certificate] {
        let response = try await client.send(method: .GET, path: "/.well-known/est/cacerts")
        guard response.status == 200 else {
            throw AgentError.http(status: response.status, body: response.errorMessage, what: "GET /cacerts")
        }
        return try Self.certificates(response, what: "/cacerts")
    }

    /// `POST /.well-known/est/simpleenroll` with Basic credentials.
    public func enroll(csr: [UInt8], user: String, password: String) async throws(AgentError) -> EnrollAnswer {
        let credentials = Data("\(user):\(password)".utf8).base64EncodedString()
        let response = try await client.send(
            method: .POST, path: "/.well-known/est/simpleenroll",
            headers: [("Content-Type", "application/pkcs10"), ("Authorization", "Basic \(credentials)")],
            body: Array(Data(csr).base64EncodedString().utf8))
        switch response.status {
        case 200:
            return .issued(try Self.single(response, what: "/simpleenroll"))
        case 202:
            let retryAfter = response.header("Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 60
            return .pending(retryAfter: max(1, retryAfter), message: response.text.trimmingCharacters(in: .whitespacesAndNewlines))
        case 401:
            throw .refused(status: 401, message: "the server did not accept subscriber ID \"\(user)\" with this signature: "
                           + "\(response.errorMessage.trimmingCharacters(in: .whitespacesAndNewlines)) — check --subscriber-id "
                           + "and --signature-file (an operator can unlock a locked subscriber)")
        case 403:
            throw .refused(status: 403, message: response.errorMessage.trimmingCharacters(in: .whitespacesAndNewlines)
                           + " — check --converter (it must be registered to this subscriber)")
        default:
            throw AgentError.http(status: response.status, body: response.errorMessage, what: "POST /simpleenroll")
        }
    }

    /// `POST /.well-known/est/simplereenroll` (this client must carry the current certificate).
    public func reenroll(csr: [UInt8]) async throws(AgentError) -> Certificate {
        let response = try await client.send(
            method: .POST, path: "/.well-known/est/simplereenroll",
            headers: [("Content-Type", "application/pkcs10")], body: Array(Data(csr).base64EncodedString().utf8))
        guard response.status == 200 else {
            throw AgentError.http(status: response.status, body: response.errorMessage, what: "POST /simplereenroll")
        }
        return try Self.single(response, what: "/simplereenroll")
    }

    static func certificates(_ response: HTTPSResponse, what: String) throws(AgentError) -> [Certificate] {
        let text = response.text.filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: text) else {
            throw .unexpectedResponse("\(what) answered no base64 (Content-Type \(response.header("Content-Type") ?? "none"))")
        }
        do {
            return try CertsOnlyPKCS7.decode(Array(der))
        } catch {
            throw .unexpectedResponse("\(what) answered no certs-only PKCS#7: \(error)")
        }
    }

    /// The first non-CA certificate of an enrolment answer.
    static func single(_ response: HTTPSResponse, what: String) throws(AgentError) -> Certificate {
        let all = try certificates(response, what: what)
        let leaf = all.first { certificate in
            guard let constraints = try? certificate.extensions.basicConstraints else { return true }
            if case .isCertificateAuthority = constraints { return false }
            return true
        }
        guard let leaf else { throw .unexpectedResponse("\(what) answered no end-entity certificate") }
        return leaf
    }
}
