import Crypto
import Foundation
import SwiftASN1
import X509

/// DER encoder for X.509 v2 CRLs (RFC 5280 §5), which swift-certificates does not provide.
struct CRLEncoder {
    var issuer: DistinguishedName
    var authorityKeyIdentifier: [UInt8]
    var crlNumber: UInt64
    var thisUpdate: Date
    var nextUpdate: Date
    var revoked: [RevokedCertificate]

    /// `TBSCertList`.
    func tbsCertList() throws -> [UInt8] {
        var coder = DER.Serializer()
        try coder.appendConstructedNode(identifier: .sequence) { tbs in
            try tbs.serialize(1)  // version v2
            try Self.serializeSignatureAlgorithm(into: &tbs)
            try tbs.serialize(issuer)
            try ASN1Time.serialize(thisUpdate, into: &tbs)
            try ASN1Time.serialize(nextUpdate, into: &tbs)
            if !revoked.isEmpty {
                try tbs.appendConstructedNode(identifier: .sequence) { list in
                    for entry in revoked {
                        try Self.serialize(entry, into: &list)
                    }
                }
            }
            try tbs.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { tagged in
                let extensions = [
                    try Certificate.Extension(
                        AuthorityKeyIdentifier(keyIdentifier: authorityKeyIdentifier[...]),
                        critical: false
                    ),
                    Certificate.Extension(
                        oid: OIDs.crlNumber,
                        critical: false,
                        value: try DEREncoding.encode(crlNumber)[...]
                    ),
                ]
                try tagged.serializeSequenceOf(extensions)
            }
        }
        return coder.serializedBytes
    }

    /// `CertificateList` signed with `key` (ecdsa-with-SHA256).
    func signed(with key: P256.Signing.PrivateKey) throws -> [UInt8] {
        let tbs = try tbsCertList()
        let signature = try key.signature(for: tbs).derRepresentation
        var coder = DER.Serializer()
        try coder.appendConstructedNode(identifier: .sequence) { list in
            list.serializeRawBytes(tbs)
            try Self.serializeSignatureAlgorithm(into: &list)
            try list.serialize(ASN1BitString(bytes: Array(signature)[...]))
        }
        return coder.serializedBytes
    }

    static func serializeSignatureAlgorithm(into coder: inout DER.Serializer) throws {
        // ecdsa-with-SHA256: parameters absent (RFC 5758 §3.2).
        try coder.appendConstructedNode(identifier: .sequence) { algorithm in
            try algorithm.serialize(OIDs.ecdsaWithSHA256)
        }
    }

    static func serialize(_ entry: RevokedCertificate, into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { item in
            try item.serialize(entry.serialNumber.bytes)
            try ASN1Time.serialize(entry.revocationDate, into: &item)
            if entry.reason != .unspecified {
                var reasonCoder = DER.Serializer()
                reasonCoder.appendPrimitiveNode(identifier: .enumerated) { bytes in
                    bytes.append(UInt8(entry.reason.rawValue))
                }
                let reasonExtension = Certificate.Extension(
                    oid: OIDs.crlReason,
                    critical: false,
                    value: reasonCoder.serializedBytes[...]
                )
                try item.serializeSequenceOf([reasonExtension])
            }
        }
    }
}
