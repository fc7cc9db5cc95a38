import Foundation
import LDAPClient

/// A network a subscriber's terminals may (or, with `action: deny`, may not) reach:
/// `cn=NAME,ou=destinations,tgOrgNumber=N,…` (`tgDestination`).
public struct Destination: DirectoryObject, Hashable {
    public static let protocols = ["tcp", "udp", "icmp", "esp", "any"]
    public static let actions = ["allow", "deny"]

    public var name: String
    public var orgNumber: String
    public var network: IPNetwork
    /// tcp, udp, icmp, esp or any.
    public var `protocol`: String
    /// Ports (tcp/udp only); empty means every port.
    public var ports: [PortRange]
    public var notBefore: Date?
    public var notAfter: Date?
    /// allow (default) or deny.
    public var action: String
    public var description: String?

    public init(name: String? = nil, orgNumber: String, network: IPNetwork, protocol: String = "any",
                ports: [PortRange] = [], notBefore: Date? = nil, notAfter: Date? = nil,
                action: String = "allow", description: String? = nil) {
        self.orgNumber = orgNumber
        self.network = network
        self.protocol = `protocol`.lowercased()
        self.ports = ports
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.action = action.lowercased()
        self.description = description
        self.name = name ?? Self.defaultName(network: network, protocol: `protocol`.lowercased(), ports: ports)
    }

    /// `10.20.0.0_16-tcp-443`: a readable default name.
    public static func defaultName(network: IPNetwork, protocol: String, ports: [PortRange]) -> String {
        var name = "\(network.address)_\(network.prefixLength)-\(`protocol`)"
        if !ports.isEmpty { name += "-" + ports.map(\.description).joined(separator: "_") }
        return name
    }

    public static let objectClasses = ["tgDestination"]

    public init(entry: LDAPEntry) throws {
        name = try entry.required("cn")
        orgNumber = try entry.required("tgOrgNumber")
        do {
            network = try IPNetwork(parsing: try entry.required("tgNetwork"))
            ports = try entry.strings("tgPortRange").map { try PortRange(parsing: $0) }
        } catch let error as InvalidFieldError {
            throw DirectoryError.malformedEntry(entry.dn, error.description)
        }
        `protocol` = try entry.required("tgProtocol").lowercased()
        notBefore = entry.time("tgNotBefore")
        notAfter = entry.time("tgNotAfter")
        action = entry["tgAction"]?.lowercased() ?? "allow"
        description = entry["description"]
    }

    public var attributes: [(String, [String])] {
        [("cn", [name]), ("tgOrgNumber", [orgNumber]), ("tgNetwork", [network.description]),
         ("tgAddressFrom", [network.first.hex]), ("tgAddressTo", [network.last.hex]),
         ("tgPrefixLength", [String(network.prefixLength)]), ("tgProtocol", [`protocol`]),
         ("tgPortRange", ports.map(\.description)),
         ("tgNotBefore", notBefore.map { [GeneralizedTime.string($0)] } ?? []),
         ("tgNotAfter", notAfter.map { [GeneralizedTime.string($0)] } ?? []),
         ("tgAction", action == "allow" ? [] : [action]),
         ("description", description.map { [$0] } ?? [])]
    }

    public func validate() throws {
        try Validate.text(name, field: "destination.name", maxLength: 128)
        try Validate.orgNumber(orgNumber, field: "destination.orgNumber")
        _ = try Validate.oneOf(`protocol`, Self.protocols, field: "destination.protocol")
        _ = try Validate.oneOf(action, Self.actions, field: "destination.action")
        if !ports.isEmpty && !["tcp", "udp"].contains(`protocol`) {
            throw InvalidFieldError(field: "destination.ports", message: "ports apply to tcp and udp only, not to \(`protocol`)")
        }
        if let notBefore, let notAfter, notAfter <= notBefore {
            throw InvalidFieldError(field: "destination.notAfter", message: "must be later than notBefore")
        }
        if let description { try Validate.text(description, field: "destination.description", maxLength: 1024, allowEmpty: true) }
    }

    /// True when `date` lies in the validity window.
    public func isValid(at date: Date) -> Bool {
        if let notBefore, date < notBefore { return false }
        if let notAfter, date >= notAfter { return false }
        return true
    }
}
