import SwiftASN1
import X509

/// The CRL Distribution Points extension (RFC 5280 §4.2.1.13, OID 2.5.29.31), which swift-certificates
/// does not provide.
///
/// Encodes one DistributionPoint whose `fullName` lists the URIs in order (alternative locations of the
/// same CRL), like OpenSSL's `crlDistributionPoints=URI:a,URI:b`.
public struct CRLDistributionPoints: Sendable, Hashable, CertificateExtensionConvertible {
    /// The CRL URIs, in the order clients should try them.
    public var uris: [String]

    /// Creates the extension from URIs.
    public init(uris: [String]) {
        self.uris = uris
    }

    /// Decodes the extension from a certificate extension (only URI full names are kept).
    public init(_ ext: Certificate.Extension) throws {
        guard ext.oid == OIDs.crlDistributionPoints else {
            throw ASN1Error.invalidASN1Object(reason: "not a CRL distribution points extension: \(ext.oid)")
        }
        var uris: [String] = []
        let root = try DER.parse(ext.value)
        for point in Self.children(root) {
            for field in Self.children(point) where field.identifier == Self.tag0 {
                for name in Self.children(field) where name.identifier == Self.tag0 {
                    for general in Self.children(name) {
                        if case .uniformResourceIdentifier(let uri) = try GeneralName(derEncoded: general) {
                            uris.append(uri)
                        }
                    }
                }
            }
        }
        self.uris = uris
    }

    /// Encodes the extension (non-critical).
    public func makeCertificateExtension() throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { points in
            try points.appendConstructedNode(identifier: .sequence) { point in
                // distributionPoint [0] (explicit: DistributionPointName is a CHOICE)
                try point.appendConstructedNode(identifier: Self.tag0) { name in
                    // fullName [0] IMPLICIT GeneralNames
                    try name.appendConstructedNode(identifier: Self.tag0) { names in
                        for uri in uris {
                            try names.serialize(GeneralName.uniformResourceIdentifier(uri))
                        }
                    }
                }
            }
        }
        return Certificate.Extension(
            oid: OIDs.crlDistributionPoints,
            critical: false,
            value: serializer.serializedBytes[...]
        )
    }

    private static let tag0 = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)

    private static func children(_ node: ASN1Node) -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else { return [] }
        return Array(nodes)
    }
}
