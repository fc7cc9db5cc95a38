import Crypto
import Foundation
import SwiftASN1
import X509

extension CertificateAuthority {
    /// Issues a converter certificate for the key in `csr`, signed by the issuing CA.
    ///
    /// Subject and subjectAltName come from `subject` (the directory), never from the CSR. The CSR's
    /// key and self-signature are checked again here.
    /// - Parameters:
    ///   - csr: The request, e.g. from ``CSRParser/parse(_:)-([UInt8])``.
    ///   - subject: Subject DN parts and alternative names.
    ///   - profile: Validity and CRL distribution points.
    ///   - now: Issuance time; `notBefore` is `now - profile.backdate`.
    public func issue(
        csr: CertificateSigningRequest,
        subject: LeafSubject,
        profile: LeafProfile = LeafProfile(),
        now: Date = Date()
    ) throws(IssuanceError) -> IssuedCertificate {
        let name = try Self.distinguishedName(for: subject)
        let altNames = try Self.alternativeNames(for: subject)
        return try sign(csr: csr, subject: name, altNames: altNames, profile: profile, now: now)
    }

    /// Parses `csrBytes` (DER, PEM or base64; see ``CSRParser``) and issues a certificate for it.
    public func issue(
        csrBytes: [UInt8],
        subject: LeafSubject,
        profile: LeafProfile = LeafProfile(),
        now: Date = Date()
    ) throws(IssuanceError) -> IssuedCertificate {
        let csr: CertificateSigningRequest
        do {
            csr = try CSRParser.parse(csrBytes)
        } catch {
            throw .csr(error)
        }
        return try issue(csr: csr, subject: subject, profile: profile, now: now)
    }

    /// Re-issues `existing` (a certificate of this CA) for the key in `csr`, which may be a new key.
    ///
    /// Subject DN and subjectAltName are copied from `existing`; validity and CRL distribution points
    /// come from `profile`. Whether the requester may renew is the caller's decision (EST
    /// `/simplereenroll` authenticates with the existing certificate).
    public func reissue(
        csr: CertificateSigningRequest,
        replacing existing: Certificate,
        profile: LeafProfile = LeafProfile(),
        now: Date = Date()
    ) throws(IssuanceError) -> IssuedCertificate {
        guard existing.issuer == issuingCertificate.subject,
            issuingCertificate.publicKey.isValidSignature(existing.signature, for: existing)
        else {
            throw .notIssuedByThisCA(serialHex: SerialNumbers.hex(existing.serialNumber))
        }
        let altNames: [GeneralName]
        do {
            altNames = try existing.extensions.subjectAlternativeNames.map { Array($0) } ?? []
        } catch {
            throw .signingFailed(reason: "cannot read subjectAltName of the existing certificate: \(error)")
        }
        return try sign(csr: csr, subject: existing.subject, altNames: altNames, profile: profile, now: now)
    }

    private func sign(
        csr: CertificateSigningRequest,
        subject: DistinguishedName,
        altNames: [GeneralName],
        profile: LeafProfile,
        now: Date
    ) throws(IssuanceError) -> IssuedCertificate {
        let keyKind: SubjectKeyKind
        do {
            try CSRParser.check(csr)
            keyKind = try CSRKeyPolicy.keyKind(of: csr.publicKey)
        } catch {
            throw .csr(error)
        }
        for uri in profile.crlDistributionPoints {
            guard let scheme = URL(string: uri)?.scheme, !scheme.isEmpty else {
                throw .invalidCRLDistributionPoint(uri)
            }
        }
        guard profile.validity > 0, profile.backdate >= 0 else {
            throw .invalidValidity(reason: "validity \(profile.validity) s, backdate \(profile.backdate) s")
        }
        let notBefore = now.addingTimeInterval(-profile.backdate)
        // Never outlive the issuing CA.
        let notAfter = min(now.addingTimeInterval(profile.validity), issuingCertificate.notValidAfter)
        guard notAfter > notBefore else {
            throw .invalidValidity(reason: "the issuing CA expired on \(issuingCertificate.notValidAfter)")
        }
        do {
            let extensions = try makeLeafExtensions(
                publicKey: csr.publicKey,
                keyKind: keyKind,
                altNames: altNames,
                crlDistributionPoints: profile.crlDistributionPoints
            )
            let certificate = try Certificate(
                version: .v3,
                serialNumber: SerialNumbers.random(),
                publicKey: csr.publicKey,
                notValidBefore: notBefore,
                notValidAfter: notAfter,
                issuer: issuingCertificate.subject,
                subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions,
                issuerPrivateKey: Certificate.PrivateKey(issuingKey)
            )
            return IssuedCertificate(
                certificate: certificate,
                derEncoded: try DEREncoding.encode(certificate),
                pemEncoded: try certificate.serializeAsPEM().pemString + "\n",
                keyKind: keyKind
            )
        } catch {
            throw .signingFailed(reason: "\(error)")
        }
    }

    private func makeLeafExtensions(
        publicKey: Certificate.PublicKey,
        keyKind: SubjectKeyKind,
        altNames: [GeneralName],
        crlDistributionPoints: [String]
    ) throws -> Certificate.Extensions {
        let subjectKeyID = KeyIdentifier.of(publicKey)
        return try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: keyKind.isRSA))
            try ExtendedKeyUsage([.serverAuth, .clientAuth, ExtendedKeyUsage.Usage(oid: OIDs.ipsecIKE)])
            SubjectKeyIdentifier(keyIdentifier: subjectKeyID[...])
            AuthorityKeyIdentifier(keyIdentifier: issuingKeyIdentifier[...])
            if !altNames.isEmpty {
                SubjectAlternativeNames(altNames)
            }
            if !crlDistributionPoints.isEmpty {
                CRLDistributionPoints(uris: crlDistributionPoints)
            }
        }
    }

    static func distinguishedName(for subject: LeafSubject) throws(IssuanceError) -> DistinguishedName {
        let commonName = subject.commonName
        guard !commonName.isEmpty, commonName.count <= 64 else {
            throw .invalidCommonName(commonName)
        }
        do {
            // X.509 order is most general first; printed (RFC 4514) as CN=…,OU=…,O=….
            return try DistinguishedName {
                if let organization = subject.organization {
                    OrganizationName(organization)
                }
                if let unit = subject.organizationalUnit {
                    OrganizationalUnitName(unit)
                }
                CommonName(commonName)
            }
        } catch {
            throw .invalidCommonName("\(commonName) (\(error))")
        }
    }

    static func alternativeNames(for subject: LeafSubject) throws(IssuanceError) -> [GeneralName] {
        var names: [GeneralName] = []
        for dnsName in subject.dnsNames {
            guard isValidDNSName(dnsName) else { throw .invalidDNSName(dnsName) }
            names.append(.dnsName(dnsName))
        }
        for address in subject.ipAddresses {
            guard let bytes = IPAddressBytes.parse(address) else { throw .invalidIPAddress(address) }
            names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
        }
        return names
    }

    private static func isValidDNSName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard !label.isEmpty, label.utf8.count <= 63 else { return false }
            return label.utf8.allSatisfy { byte in
                (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                    || byte == 0x2D || byte == 0x5F || byte == 0x2A
            }
        }
    }
}
