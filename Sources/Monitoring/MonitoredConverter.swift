import Directory
import Foundation
import LDAPClient

/// A converter the monitor probes: read from its directory entry every cycle.
public struct MonitoredConverter: Sendable, Equatable {
    public var dn: DistinguishedName
    public var orgNumber: String
    public var name: String
    /// `ipHostNumber`.
    public var address: String
    /// `tgStatusPort`, or the default 9443.
    public var statusPort: Int
    /// `tgHealth` as stored.
    public var health: ConverterHealth
    /// `tgTrafficCursor`: the last traffic seq collected and committed (0: none).
    public var cursor: Int64
    /// `tgCertificateNotAfter`.
    public var certificateNotAfter: Date?

    /// The attributes read for monitoring.
    public static let attributeNames = ["cn", "tgOrgNumber", "ipHostNumber", "tgStatusPort", "tgHealth", "tgTrafficCursor",
                                        "tgCertificateNotAfter", "tgCertificateSerial", "tgState"]

    /// Which converters are probed: those with a certificate that is not revoked.
    public static let filter: LDAPFilter = .and([.equal("objectClass", "tgConverter"), .present("tgCertificateSerial"),
                                                 .not(.equal("tgState", "revoked"))])

    public init(dn: DistinguishedName, orgNumber: String, name: String, address: String, statusPort: Int,
                health: ConverterHealth = .unknown, cursor: Int64 = 0, certificateNotAfter: Date? = nil) {
        self.dn = dn
        self.orgNumber = orgNumber
        self.name = name
        self.address = address
        self.statusPort = statusPort
        self.health = health
        self.cursor = cursor
        self.certificateNotAfter = certificateNotAfter
    }

    /// Reads an entry; nil when it lacks name, tenant or address (logged by the caller).
    public init?(entry: LDAPEntry, defaultPort: Int) {
        guard let name = entry["cn"], let org = entry["tgOrgNumber"], let address = entry["ipHostNumber"],
              IPAddress(address) != nil else { return nil }
        self.dn = entry.dn
        self.orgNumber = org
        self.name = name
        self.address = address
        self.statusPort = entry["tgStatusPort"].flatMap(Int.init).flatMap { (1...65535).contains($0) ? $0 : nil } ?? defaultPort
        self.health = ConverterHealth(directoryValue: entry["tgHealth"])
        self.cursor = entry["tgTrafficCursor"].flatMap { Int64($0) } ?? 0
        self.certificateNotAfter = entry["tgCertificateNotAfter"].flatMap(GeneralizedTime.date)
    }
}
