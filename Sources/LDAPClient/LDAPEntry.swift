import Foundation

/// An entry as returned by a search: its DN and its attribute values as bytes.
///
/// Attribute names are matched case-insensitively, options included
/// (`userCertificate;binary`).
public struct LDAPEntry: Sendable, Hashable {
    public var dn: DistinguishedName
    /// Values by lower-cased attribute description.
    public private(set) var attributes: [String: [Data]]

    public init(dn: DistinguishedName, attributes: [String: [Data]] = [:]) {
        self.dn = dn
        self.attributes = [:]
        for (name, values) in attributes { self.attributes[name.lowercased(), default: []] += values }
    }

    /// Wraps attributes whose keys are lower-cased already (entries decoded from the wire).
    init(dn: DistinguishedName, lowercasedAttributes: [String: [Data]]) {
        self.dn = dn
        self.attributes = lowercasedAttributes
    }

    /// An attribute description from the wire as a dictionary key: ASCII letters are
    /// lower-cased byte by byte (descriptions are ASCII: RFC 4512 §2.5); anything else
    /// falls back to `String.lowercased()`.
    static func lowercasedKey(_ bytes: UnsafeRawBufferPointer) -> String {
        var needsMapping = false
        for byte in bytes {
            if byte >= 0x80 { return String(decoding: bytes, as: UTF8.self).lowercased() }
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { needsMapping = true }
        }
        guard needsMapping else { return String(decoding: bytes, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: bytes.count) { buffer in
            for (index, byte) in bytes.enumerated() {
                buffer[index] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            }
            return bytes.count
        }
    }

    /// All values of `name` as bytes.
    public func values(_ name: String) -> [Data] { attributes[name.lowercased()] ?? [] }

    /// All values of `name` decoded as UTF-8.
    public func strings(_ name: String) -> [String] {
        values(name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The first value of `name` decoded as UTF-8.
    public subscript(_ name: String) -> String? { strings(name).first }

    /// Adds values (used when building entries locally).
    public mutating func append(_ name: String, _ values: [Data]) {
        attributes[name.lowercased(), default: []] += values
    }

    /// True when `objectClass` contains `name` (case-insensitive).
    public func hasObjectClass(_ name: String) -> Bool {
        strings("objectClass").contains { $0.caseInsensitiveCompare(name) == .orderedSame }
    }
}

/// One attribute change in a modify request (RFC 4511 §4.6).
public struct LDAPModification: Sendable, Hashable {
    public enum Operation: Sendable, Hashable {
        case add, delete, replace
    }
    public var operation: Operation
    public var attribute: String
    public var values: [Data]

    public init(_ operation: Operation, _ attribute: String, _ values: [Data]) {
        self.operation = operation
        self.attribute = attribute
        self.values = values
    }

    public static func replace(_ attribute: String, _ values: [String]) -> Self {
        .init(.replace, attribute, values.map { Data($0.utf8) })
    }
    public static func add(_ attribute: String, _ values: [String]) -> Self {
        .init(.add, attribute, values.map { Data($0.utf8) })
    }
    /// Deletes the given values, or the whole attribute when `values` is empty.
    public static func delete(_ attribute: String, _ values: [String] = []) -> Self {
        .init(.delete, attribute, values.map { Data($0.utf8) })
    }
}

/// The scope of a search.
public enum LDAPSearchScope: Int32, Sendable {
    case base = 0
    case oneLevel = 1
    case subtree = 2
    case children = 3
}

/// How the client authenticates after connecting.
public enum LDAPCredentials: Sendable, Hashable {
    /// No bind: anonymous access.
    case anonymous
    /// Simple bind with a DN and password (RFC 4513 §5.1).
    case simple(dn: DistinguishedName, password: String)
    /// SASL EXTERNAL; over `ldapi://` slapd maps the peer's uid/gid to
    /// `gidNumber=G+uidNumber=U,cn=peercred,cn=external,cn=auth`.
    case saslExternal
}
