/// Who a converter certificate is issued to, as recorded in the directory.
///
/// The EST server fills this from the converter's directory entry; the subject and alternative names
/// requested in the CSR are ignored. The resulting subject DN is
/// `CN=<commonName>,OU=<organizationalUnit>,O=<organization>` (RFC 4514 order).
public struct LeafSubject: Sendable, Equatable {
    /// Subject common name, e.g. the converter name `conv-a`.
    public var commonName: String
    /// Subject organisational unit, e.g. the organisation number `1001`; omitted when nil.
    public var organizationalUnit: String?
    /// Subject organisation; omitted when nil.
    public var organization: String?
    /// DNS names for the subjectAltName extension, in order.
    public var dnsNames: [String]
    /// IPv4 or IPv6 addresses (textual form) for the subjectAltName extension, in order.
    public var ipAddresses: [String]

    /// Organisation used for converter certificates unless another is given.
    public static let defaultOrganization = "Tollgate converters"

    /// Creates a subject.
    public init(
        commonName: String,
        organizationalUnit: String? = nil,
        organization: String? = LeafSubject.defaultOrganization,
        dnsNames: [String] = [],
        ipAddresses: [String] = []
    ) {
        self.commonName = commonName
        self.organizationalUnit = organizationalUnit
        self.organization = organization
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
    }
}
