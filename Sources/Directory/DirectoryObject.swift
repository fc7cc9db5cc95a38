import Foundation
import LDAPClient

/// A typed model stored as one LDAP entry.
public protocol DirectoryObject: Sendable, Codable {
    /// The object classes the entry is created with.
    static var objectClasses: [String] { get }
    /// Attributes to read for this model (nil: all user attributes).
    static var attributeNames: [String]? { get }
    /// Builds the model from an entry; throws ``DirectoryError/malformedEntry(_:_:)``.
    init(entry: LDAPEntry) throws
    /// The entry's attributes (without objectClass), empty values omitted.
    var attributes: [(String, [String])] { get }
    /// Checks every field; throws ``InvalidFieldError`` naming the first bad one.
    func validate() throws
}

extension DirectoryObject {
    public static var attributeNames: [String]? { nil }

    /// objectClass plus ``attributes``.
    public var entryAttributes: [(String, [String])] {
        [("objectClass", Self.objectClasses)] + attributes.filter { !$0.1.isEmpty }
    }
}

extension LDAPEntry {
    /// The first value of `name`, or a ``DirectoryError/malformedEntry(_:_:)``.
    func required(_ name: String) throws -> String {
        guard let value = self[name] else { throw DirectoryError.malformedEntry(dn, "missing \(name)") }
        return value
    }

    func time(_ name: String) -> Date? { self[name].flatMap(GeneralizedTime.date) }
}

/// Errors of the directory layer.
public enum DirectoryError: Error, Sendable, CustomStringConvertible {
    case notFound(String)
    case alreadyExists(String)
    case malformedEntry(DistinguishedName, String)

    public var description: String {
        switch self {
        case .notFound(let what): return "\(what) does not exist"
        case .alreadyExists(let what): return "\(what) exists already"
        case .malformedEntry(let dn, let why): return "entry \(dn) is not a valid Tollgate object: \(why)"
        }
    }
}
