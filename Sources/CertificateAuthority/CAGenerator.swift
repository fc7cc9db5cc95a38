import Crypto
import Foundation
import X509

/// Creates a new root CA and issuing CA (both ECDSA P-256).
enum CAGenerator {
    static let rootValidityYears = 20
    static let issuingValidityYears = 10
    /// Certificates start slightly in the past to tolerate clock skew.
    static let backdate: TimeInterval = 5 * 60

    struct Generated {
        var root: Certificate
        var rootKey: P256.Signing.PrivateKey
        var issuing: Certificate
        var issuingKey: P256.Signing.PrivateKey
    }

    static func generate(now: Date) throws(CertificateAuthorityError) -> Generated {
        do {
            return try makeCertificates(now: now)
        } catch let error as CertificateAuthorityError {
            throw error
        } catch {
            throw .generationFailed(reason: "\(error)")
        }
    }

    private static func makeCertificates(now: Date) throws -> Generated {
        let notBefore = now.addingTimeInterval(-backdate)
        let rootKey = P256.Signing.PrivateKey()
        let issuingKey = P256.Signing.PrivateKey()
        let rootPublic = Certificate.PublicKey(rootKey.publicKey)
        let issuingPublic = Certificate.PublicKey(issuingKey.publicKey)
        let rootKeyID = KeyIdentifier.of(rootPublic)
        let issuingKeyID = KeyIdentifier.of(issuingPublic)
        let rootName = try DistinguishedName {
            OrganizationName("Tollgate")
            CommonName("Tollgate Root CA")
        }
        let issuingName = try DistinguishedName {
            OrganizationName("Tollgate")
            CommonName("Tollgate Issuing CA")
        }
        let root = try Certificate(
            version: .v3,
            serialNumber: SerialNumbers.random(),
            publicKey: rootPublic,
            notValidBefore: notBefore,
            notValidAfter: try years(rootValidityYears, after: now),
            issuer: rootName,
            subject: rootName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(keyIdentifier: rootKeyID[...])
            },
            issuerPrivateKey: Certificate.PrivateKey(rootKey)
        )
        let issuing = try Certificate(
            version: .v3,
            serialNumber: SerialNumbers.random(),
            publicKey: issuingPublic,
            notValidBefore: notBefore,
            notValidAfter: try years(issuingValidityYears, after: now),
            issuer: rootName,
            subject: issuingName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(keyIdentifier: issuingKeyID[...])
                AuthorityKeyIdentifier(keyIdentifier: rootKeyID[...])
            },
            issuerPrivateKey: Certificate.PrivateKey(rootKey)
        )
        return Generated(root: root, rootKey: rootKey, issuing: issuing, issuingKey: issuingKey)
    }

    private static func years(_ count: Int, after date: Date) throws(CertificateAuthorityError) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        guard let result = calendar.date(byAdding: .year, value: count, to: date) else {
            throw .generationFailed(reason: "cannot add \(count) years to \(date)")
        }
        return result
    }
}
