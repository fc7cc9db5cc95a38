import Directory
import Foundation
import LDAPClient

/// One destination entry prepared for decisions: the typed ``Destination`` with its DN,
/// its network as a 128-bit prefix and its protocol as an ``AccessProtocol``.
///
/// Both decision paths build rules with ``init(entry:)`` from the same attributes, so the
/// replica and a direct LDAP search agree on which entries take part: an entry that is
/// malformed (unknown protocol or action, ports on a protocol without ports, or
/// `tgAddressFrom`/`tgAddressTo` missing or not matching `tgNetwork`) is left out of
/// both.
public struct AccessRule: Sendable, Hashable {
    /// The entry's DN as the server spells it.
    public let dn: String
    public let destination: Destination
    public let `protocol`: AccessProtocol
    public let isDeny: Bool
    /// The network's first address and prefix length on the 128-bit (IPv4-mapped) scale.
    let first: Address128
    let mappedPrefixLength: Int
    /// Lower-cased DN: the tie-break between rules of equal prefix length and action.
    let sortKey: String

    /// The attributes a rule is built from (search and synchronisation requests ask for these).
    public static let attributeNames = ["objectClass", "cn", "tgOrgNumber", "tgNetwork", "tgAddressFrom", "tgAddressTo",
                                        "tgProtocol", "tgPortRange", "tgNotBefore", "tgNotAfter", "tgAction", "description"]

    /// Why an entry cannot take part in decisions.
    public struct Malformed: Error, CustomStringConvertible {
        public let dn: String
        public let reason: String
        public var description: String { "destination \(dn) is ignored: \(reason)" }
    }

    public init(entry: LDAPEntry) throws {
        let dn = entry.dn.string
        let destination: Destination
        do {
            destination = try Destination(entry: entry)
        } catch {
            throw Malformed(dn: dn, reason: "\(error)")
        }
        guard let from = entry["tgAddressFrom"]?.lowercased(), let to = entry["tgAddressTo"]?.lowercased(),
              from == destination.network.first.hex, to == destination.network.last.hex else {
            throw Malformed(dn: dn, reason: "tgAddressFrom/tgAddressTo are missing or do not match tgNetwork \(destination.network)")
        }
        try self.init(dn: dn, destination: destination)
    }

    public init(dn: String, destination: Destination) throws {
        guard let proto = AccessProtocol(rawValue: destination.protocol.lowercased()) else {
            throw Malformed(dn: dn, reason: "unknown protocol \"\(destination.protocol)\"")
        }
        guard Destination.actions.contains(destination.action) else {
            throw Malformed(dn: dn, reason: "unknown action \"\(destination.action)\"")
        }
        if !destination.ports.isEmpty && !proto.hasPorts {
            throw Malformed(dn: dn, reason: "ports on protocol \(proto.rawValue)")
        }
        self.dn = dn
        self.destination = destination
        self.protocol = proto
        self.isDeny = destination.action == "deny"
        self.first = Address128(destination.network.address)
        self.mappedPrefixLength = destination.network.address.isIPv4 ? destination.network.prefixLength + 96 : destination.network.prefixLength
        self.sortKey = dn.lowercased()
    }

    public var isIPv4: Bool { destination.network.address.isIPv4 }
    public var prefixLength: Int { destination.network.prefixLength }

    /// True if `address` lies in the rule's network (same address family).
    func contains(_ address: IPAddress, _ key: Address128) -> Bool {
        address.isIPv4 == isIPv4 && key.masked(mappedPrefixLength) == first
    }

    /// Whether the rule speaks about `query`. An allow rule must cover everything the
    /// query asks for (its protocol is `any`, or the same protocol and, with ports, the
    /// port); a deny rule only has to touch it (so a question about `any` traffic meets
    /// every deny rule of the network). For one protocol and port the two are the same.
    public func matches(_ query: AccessQuery) -> Bool {
        isDeny ? intersects(query) : covers(query)
    }

    func covers(_ query: AccessQuery) -> Bool {
        if self.protocol == .any { return true }
        guard self.protocol == query.protocol else { return false }
        if destination.ports.isEmpty { return true }
        guard let port = query.port else { return false }
        return destination.ports.contains { $0.contains(port) }
    }

    func intersects(_ query: AccessQuery) -> Bool {
        if self.protocol == .any || query.protocol == .any { return true }
        guard self.protocol == query.protocol else { return false }
        guard !destination.ports.isEmpty, let port = query.port else { return true }
        return destination.ports.contains { $0.contains(port) }
    }

    /// `10.20.0.0/16 tcp/443,8000-8080` or `10.30.1.5/32 any`.
    public var summary: String {
        var text = "\(destination.network) \(self.protocol.rawValue)"
        if !destination.ports.isEmpty { text += "/" + destination.ports.map(\.description).joined(separator: ",") }
        return text
    }
}
