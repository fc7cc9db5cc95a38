import CertificateAuthority
import Directory
import Foundation
import Hummingbird
import NIOCore

/// `GET /pki/crl` (the published CRL, DER) and `GET /pki/ca.pem` (root and issuing CA).
public struct PKIController: Sendable {
    public let authority: CertificateAuthority
    public let store: DirectoryStore

    public init(authority: CertificateAuthority, store: DirectoryStore) {
        self.authority = authority
        self.store = store
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/pki/crl") { _, _ -> Response in
            guard let der = try await store.publishedCRL() else {
                return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "no CRL published yet\n")))
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/pkix-crl"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: der)))
        }
        router.get("/pki/ca.pem") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/x-pem-file"
            let pem = try authority.rootCertificate.serializeAsPEM().pemString + "\n"
                + authority.issuingCertificate.serializeAsPEM().pemString + "\n"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: pem)))
        }
    }
}
