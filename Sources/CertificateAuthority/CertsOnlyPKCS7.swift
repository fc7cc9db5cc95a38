import SwiftASN1
import X509

/// Certs-only CMS SignedData (RFC 5652 with no signers; "degenerate PKCS#7", `application/pkcs7-mime;
/// smime-type=certs-only`), the body of EST `/cacerts` and `/simpleenroll` responses (RFC 7030 §4.1.3).
///
/// swift-certificates only has CMS signing behind an SPI, so this is built directly on SwiftASN1.
public enum CertsOnlyPKCS7 {
    private static let certificatesTag = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)

    /// DER of `ContentInfo { id-signedData, [0] SignedData { version 1, digestAlgorithms {}, encapContentInfo
    /// { id-data }, certificates [0] <certificates>, signerInfos {} } }`.
    ///
    /// Certificates are a DER `SET OF`, so they appear sorted by encoding, not in argument order.
    public static func encode(_ certificates: [Certificate]) throws(PKCS7Error) -> [UInt8] {
        var coder = DER.Serializer()
        do {
            try coder.appendConstructedNode(identifier: .sequence) { contentInfo in
                try contentInfo.serialize(OIDs.signedData)
                try contentInfo.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { content in
                    try content.appendConstructedNode(identifier: .sequence) { signedData in
                        try signedData.serialize(1)  // CMSVersion v1
                        signedData.appendConstructedNode(identifier: .set) { _ in }  // digestAlgorithms
                        try signedData.appendConstructedNode(identifier: .sequence) { encapsulated in
                            try encapsulated.serialize(OIDs.data)
                        }
                        try signedData.serializeSetOf(certificates, identifier: certificatesTag)
                        signedData.appendConstructedNode(identifier: .set) { _ in }  // signerInfos
                    }
                }
            }
        } catch {
            throw .encodingFailed(reason: "\(error)")
        }
        return coder.serializedBytes
    }

    /// The certificates in a DER certs-only SignedData (signers, if any, are ignored).
    public static func decode(_ der: [UInt8]) throws(PKCS7Error) -> [Certificate] {
        do {
            let root = try DER.parse(der)
            let contentInfo = children(root)
            guard contentInfo.count == 2,
                try ASN1ObjectIdentifier(derEncoded: contentInfo[0]) == OIDs.signedData,
                let signedData = children(contentInfo[1]).first
            else {
                throw PKCS7Error.malformed(reason: "not a ContentInfo with id-signedData")
            }
            guard let certificateSet = children(signedData).first(where: { $0.identifier == certificatesTag }) else {
                return []
            }
            return try children(certificateSet).map { try Certificate(derEncoded: $0) }
        } catch let error as PKCS7Error {
            throw error
        } catch {
            throw .malformed(reason: "\(error)")
        }
    }

    private static func children(_ node: ASN1Node) -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else { return [] }
        return Array(nodes)
    }
}
