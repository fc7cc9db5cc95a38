import LDAPClient

/// The names of Tollgate's entries (the DIT of `ldif/base.ldif`).
///
/// Every value that comes from outside goes through ``DistinguishedName/child(_:_:)``,
/// which escapes it per RFC 4514.
public struct DirectoryLayout: Sendable, Hashable {
    public let suffix: DistinguishedName

    public init(suffix: DistinguishedName = "dc=tollgate") { self.suffix = suffix }

    public var subscribers: DistinguishedName { suffix.child("ou", "subscribers") }
    public var applications: DistinguishedName { suffix.child("ou", "applications") }
    public var servers: DistinguishedName { suffix.child("ou", "servers") }
    public var pki: DistinguishedName { suffix.child("ou", "pki") }
    public var certificateAuthority: DistinguishedName { pki.child("cn", "ca") }
    public var globalHistory: DistinguishedName { suffix.child("ou", "history") }
    public var serviceAccount: DistinguishedName { suffix.child("ou", "services").child("cn", "tollgate") }

    /// The subscriber (tenant root) entry; also the DN a subscriber binds as.
    public func subscriber(_ orgNumber: String) -> DistinguishedName { subscribers.child("tgOrgNumber", orgNumber) }
    public func converters(_ orgNumber: String) -> DistinguishedName { subscriber(orgNumber).child("ou", "converters") }
    public func converter(_ orgNumber: String, _ name: String) -> DistinguishedName { converters(orgNumber).child("cn", name) }
    public func destinations(_ orgNumber: String) -> DistinguishedName { subscriber(orgNumber).child("ou", "destinations") }
    public func destination(_ orgNumber: String, _ name: String) -> DistinguishedName { destinations(orgNumber).child("cn", name) }
    public func history(_ orgNumber: String) -> DistinguishedName { subscriber(orgNumber).child("ou", "history") }
    public func traffic(_ orgNumber: String) -> DistinguishedName { subscriber(orgNumber).child("ou", "traffic") }
    public func reports(_ orgNumber: String) -> DistinguishedName { subscriber(orgNumber).child("ou", "reports") }
    /// A traffic sample's entry (``TrafficSample/rdnValue`` under the tenant's `ou=traffic`).
    public func trafficSample(_ orgNumber: String, _ rdnValue: String) -> DistinguishedName { traffic(orgNumber).child("cn", rdnValue) }
    public func server(_ name: String) -> DistinguishedName { servers.child("cn", name) }

    /// The containers created under every new subscriber.
    public static let tenantContainers: [(name: String, description: String)] = [
        ("converters", "Converters (VPN gateways) of this tenant"),
        ("destinations", "Destinations this tenant's terminals may reach"),
        ("history", "Exchanges with this tenant and its converters"),
        ("traffic", "Traffic samples of this tenant's converters"),
        ("reports", "Reports for this tenant"),
    ]
}
