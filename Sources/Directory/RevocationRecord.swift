import Foundation
import LDAPClient

/// A certificate the CA revoked: `tgCertificateSerial=HEX,ou=revoked,ou=pki,dc=tollgate`.
public struct RevocationRecord: DirectoryObject, Hashable {
    /// RFC 5280 CRLReason names.
    public static let reasons = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
                                 "cessationOfOperation", "certificateHold", "removeFromCRL", "privilegeWithdrawn", "aACompromise"]

    /// Lower-case hex serial.
    public var serial: String
    public var revokedAt: Date
    public var reason: String
    public var orgNumber: String?
    public var converter: String?

    public init(serial: String, revokedAt: Date = Date(), reason: String = "unspecified", orgNumber: String? = nil, converter: String? = nil) {
        self.serial = serial.lowercased()
        self.revokedAt = revokedAt
        self.reason = reason
        self.orgNumber = orgNumber
        self.converter = converter
    }

    public static let objectClasses = ["tgRevokedCertificate"]

    public init(entry: LDAPEntry) throws {
        serial = try entry.required("tgCertificateSerial").lowercased()
        guard let time = entry.time("tgEventTime") else { throw DirectoryError.malformedEntry(entry.dn, "bad tgEventTime") }
        revokedAt = time
        reason = entry["tgRevocationReason"] ?? "unspecified"
        orgNumber = entry["tgOrgNumber"]
        converter = entry["cn"]
    }

    public var attributes: [(String, [String])] {
        [("tgCertificateSerial", [serial]), ("tgEventTime", [GeneralizedTime.string(revokedAt)]),
         ("tgRevocationReason", [reason]), ("tgOrgNumber", orgNumber.map { [$0] } ?? []), ("cn", converter.map { [$0] } ?? [])]
    }

    public func validate() throws {
        guard !serial.isEmpty, serial.count <= 64, serial.allSatisfy({ $0.isHexDigit }) else {
            throw InvalidFieldError(field: "certificate.serial", message: "\"\(serial.prefix(70))\" is not a hex serial number")
        }
        _ = try Validate.oneOf(reason, Self.reasons, field: "certificate.reason")
    }
}
