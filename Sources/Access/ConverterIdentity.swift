/// Who is asking: a converter of one tenant, found by the serial number of its current
/// certificate (the `userCertificate;binary` on its entry).
public struct ConverterIdentity: Sendable, Hashable {
    public var org: String
    public var name: String
    /// Lower-case hex serial of the converter's current certificate.
    public var serial: String
    /// `tgState` of the converter entry.
    public var state: String
    public var dn: String

    public init(org: String, name: String, serial: String, state: String, dn: String) {
        self.org = org
        self.name = name
        self.serial = serial
        self.state = state
        self.dn = dn
    }

    /// `1001-conv-a`.
    public var converterId: String { "\(org)-\(name)" }
}

/// What the replica knows about a client certificate's serial.
public enum CertificateStatus: Sendable, Hashable {
    /// The current certificate of this converter, not revoked.
    case valid(ConverterIdentity)
    /// Listed under `ou=revoked,ou=pki` (or its converter is marked revoked).
    case revoked
    /// No converter has this certificate as its current one (e.g. a superseded certificate).
    case unknown
    /// The converter's subscriber is not active (suspended or pending): no answers for
    /// its converters until an operator sets it active again.
    case tenantInactive(org: String, state: String)
}
