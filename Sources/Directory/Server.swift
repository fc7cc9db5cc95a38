import Foundation
import LDAPClient

/// A Tollgate server of a cluster: `cn=NAME,ou=servers,dc=tollgate` (`tgServer`).
public struct Server: DirectoryObject, Hashable {
    public static let roles = ["master", "slave"]
    public static let states = ["up", "down", "draining"]

    public var name: String
    public var role: String
    public var region: String?
    public var capacity: Int?
    public var state: String
    /// Where it is reached, e.g. `https://gw1.example.net:8443`.
    public var url: String?
    public var lastSeen: Date?

    public init(name: String, role: String, region: String? = nil, capacity: Int? = nil, state: String = "up", url: String? = nil) {
        self.name = name
        self.role = role
        self.region = region
        self.capacity = capacity
        self.state = state
        self.url = url
    }

    public static let objectClasses = ["tgServer"]

    public init(entry: LDAPEntry) throws {
        name = try entry.required("cn")
        role = try entry.required("tgServerRole")
        region = entry["tgRegion"]
        capacity = entry["tgCapacity"].flatMap { Int($0) }
        state = try entry.required("tgState")
        url = entry["labeledURI"]
        lastSeen = entry.time("tgLastSeen")
    }

    public var attributes: [(String, [String])] {
        [("cn", [name]), ("tgServerRole", [role]), ("tgRegion", region.map { [$0] } ?? []),
         ("tgCapacity", capacity.map { [String($0)] } ?? []), ("tgState", [state]),
         ("labeledURI", url.map { [$0] } ?? []), ("tgLastSeen", lastSeen.map { [GeneralizedTime.string($0)] } ?? [])]
    }

    public func validate() throws {
        try Validate.text(name, field: "server.name", maxLength: 64)
        _ = try Validate.oneOf(role, Self.roles, field: "server.role")
        _ = try Validate.oneOf(state, Self.states, field: "server.state")
        if let capacity, capacity < 0 { throw InvalidFieldError(field: "server.capacity", message: "must not be negative") }
    }
}
