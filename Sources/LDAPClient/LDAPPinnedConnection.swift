import Foundation

/// One connection of an ``LDAPClient``'s pool, reserved for the body of
/// ``LDAPClient/withPinnedConnection(_:)``. Its operations behave like the client's
/// (same reconnect and retry rules) but always use this connection.
public struct LDAPPinnedConnection: Sendable {
    let connection: LDAPConnection

    /// See ``LDAPClient/search(base:scope:filter:attributes:sizeLimit:pageSize:)``.
    public func search(
        base: DistinguishedName,
        scope: LDAPSearchScope = .subtree,
        filter: LDAPFilter = .present("objectClass"),
        attributes: [String]? = nil,
        sizeLimit: Int = 0,
        pageSize: Int? = nil
    ) async throws -> [LDAPEntry] {
        try await connection.searchAsync(base: base, scope: scope, filter: filter, attributes: attributes,
                                         sizeLimit: sizeLimit, pageSize: pageSize)
    }

    /// Reads one entry by DN, or `nil` if it does not exist.
    public func read(_ dn: DistinguishedName, attributes: [String]? = nil) async throws -> LDAPEntry? {
        try await LDAPClient.entryOrNil { try await search(base: dn, scope: .base, attributes: attributes) }
    }

    /// LDAP compare: does `dn` hold `value` in `attribute`?
    public func compare(_ dn: DistinguishedName, attribute: String, value: String) async throws -> Bool {
        try await connection.compareAsync(dn, attribute: attribute, value: Data(value.utf8))
    }

    /// Adds an entry; attribute values are UTF-8 strings.
    public func add(_ dn: DistinguishedName, attributes: [(String, [String])]) async throws {
        let values = attributes.filter { !$0.1.isEmpty }.map { ($0.0, $0.1.map { Data($0.utf8) }) }
        try await connection.addAsync(dn, attributes: values)
    }

    /// Applies modifications to one entry atomically.
    public func modify(_ dn: DistinguishedName, _ modifications: [LDAPModification]) async throws {
        try await connection.modifyAsync(dn, modifications)
    }

    /// Deletes one (leaf) entry.
    public func delete(_ dn: DistinguishedName) async throws {
        try await connection.deleteAsync(dn)
    }
}
