import Foundation
import LDAPClient

/// Where the CA's output lives in the directory: converters' certificates, the CA entry's
/// certificates and CRL, and the revoked serials.
extension DirectoryStore {
    public var revokedContainer: DistinguishedName { layout.pki.child("ou", "revoked") }

    /// Stores a newly issued certificate on its converter (`userCertificate;binary`, its
    /// serial and expiry) and marks the converter `certified`, in one modify.
    /// With `writer`, the modify is committed in the writer's next group (see
    /// ``BatchedWriter``); either way it is on the entry when this returns.
    public func publishCertificate(orgNumber: String, converter name: String, der: Data, serial: String, notAfter: Date,
                                   writer: BatchedWriter? = nil) async throws {
        let write = try certificatePublication(orgNumber: orgNumber, converter: name, der: der, serial: serial, notAfter: notAfter)
        do {
            if let writer { try await writer.submit(write) } else { try await client.apply(write) }
        } catch let error as LDAPError where error.code == .noSuchObject {
            throw DirectoryError.notFound("converter \(name) of \(orgNumber)")
        }
    }

    /// The modify that ``publishCertificate(orgNumber:converter:der:serial:notAfter:writer:)`` applies.
    public func certificatePublication(orgNumber: String, converter name: String, der: Data, serial: String,
                                       notAfter: Date) throws -> LDAPWrite {
        try Validate.orgNumber(orgNumber)
        return .modify(layout.converter(orgNumber, name), [
            LDAPModification(.replace, "userCertificate;binary", [der]),
            .add("tgCertificateSerial", [serial.lowercased()]),
            .replace("tgCertificateNotAfter", [GeneralizedTime.string(notAfter)]),
            .replace("tgState", ["certified"]),
        ])
    }

    /// The converter whose certificate history contains `serial`.
    public func converter(certificateSerial serial: String) async throws -> Converter? {
        try await list(Converter.self, base: layout.subscribers, scope: .subtree,
                       filter: [.equal("tgCertificateSerial", serial.lowercased())]).first
    }

    /// The DER of a converter's current certificate, if it has one.
    public func certificate(orgNumber: String, converter name: String) async throws -> Data? {
        try await client.read(layout.converter(orgNumber, name), attributes: ["userCertificate;binary"])?
            .values("userCertificate;binary").first
    }

    /// Converters whose current certificate expires before `date`.
    public func converters(certificateExpiringBefore date: Date) async throws -> [Converter] {
        try await list(Converter.self, base: layout.subscribers, scope: .subtree,
                       filter: [.present("tgCertificateNotAfter")]).filter { ($0.certificateNotAfter ?? .distantFuture) < date }
    }

    /// Records a revocation; revoking a serial twice is not an error.
    public func recordRevocation(_ revoked: RevocationRecord) async throws {
        try revoked.validate()
        do {
            try await client.add(revokedContainer.child("tgCertificateSerial", revoked.serial), attributes: revoked.entryAttributes)
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            return
        }
    }

    public func revokedCertificates() async throws -> [RevocationRecord] {
        try await list(RevocationRecord.self, base: revokedContainer).sorted { $0.revokedAt < $1.revokedAt }
    }

    public func isRevoked(serial: String) async throws -> Bool {
        try await client.read(revokedContainer.child("tgCertificateSerial", serial.lowercased()), attributes: ["1.1"]) != nil
    }

    /// Publishes the CA certificates (root first) on the CA entry.
    public func publishCACertificates(_ ders: [Data]) async throws {
        try await client.modify(layout.certificateAuthority, [LDAPModification(.replace, "cACertificate;binary", ders)])
    }

    /// The number the next CRL gets (one more than the last published).
    public func nextCRLNumber() async throws -> Int {
        let entry = try await client.read(layout.certificateAuthority, attributes: ["tgCRLNumber"])
        return (entry?["tgCRLNumber"].flatMap { Int($0) } ?? 0) + 1
    }

    /// Publishes a CRL and its number on the CA entry (anonymously readable).
    public func publishCRL(_ der: Data, number: Int) async throws {
        try await client.modify(layout.certificateAuthority, [
            LDAPModification(.replace, "certificateRevocationList;binary", [der]),
            .replace("tgCRLNumber", [String(number)]),
        ])
    }

    /// The published CRL, if any.
    public func publishedCRL() async throws -> Data? {
        try await client.read(layout.certificateAuthority, attributes: ["certificateRevocationList;binary"])?
            .values("certificateRevocationList;binary").first
    }
}
