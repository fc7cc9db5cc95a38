/// An LDAP search filter (RFC 4515) built from typed parts, so that every assertion value
/// is escaped on the way out and no user input can change a filter's structure.
///
/// ```swift
/// let filter: LDAPFilter = .and([.equal("objectClass", "tgConverter"), .equal("cn", userInput)])
/// filter.string   // (&(objectClass=tgConverter)(cn=…escaped…))
/// ```
public indirect enum LDAPFilter: Sendable, Hashable, CustomStringConvertible {
    case and([LDAPFilter])
    case or([LDAPFilter])
    case not(LDAPFilter)
    case equal(String, String)
    case greaterOrEqual(String, String)
    case lessOrEqual(String, String)
    case approx(String, String)
    case present(String)
    /// `(attr=initial*any*…*final)`; each part is escaped, `nil` parts are omitted.
    case substring(String, initial: String?, any: [String], final: String?)
    /// A filter string written by an operator (e.g. a CLI `--filter`), passed through as is.
    /// Never build one of these from untrusted input.
    case raw(String)

    /// Escapes a filter assertion value per RFC 4515 §3: `*`, `(`, `)`, `\` and NUL become
    /// `\2a`, `\28`, `\29`, `\5c` and `\00`. Everything else (UTF-8 included) is kept.
    public static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "*": out += "\\2a"
            case "(": out += "\\28"
            case ")": out += "\\29"
            case "\\": out += "\\5c"
            case "\u{0}": out += "\\00"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The RFC 4515 string form.
    public var string: String {
        switch self {
        case .and(let parts): return "(&" + parts.map(\.string).joined() + ")"
        case .or(let parts): return "(|" + parts.map(\.string).joined() + ")"
        case .not(let inner): return "(!" + inner.string + ")"
        case .equal(let attr, let value): return "(\(attr)=\(Self.escape(value)))"
        case .greaterOrEqual(let attr, let value): return "(\(attr)>=\(Self.escape(value)))"
        case .lessOrEqual(let attr, let value): return "(\(attr)<=\(Self.escape(value)))"
        case .approx(let attr, let value): return "(\(attr)~=\(Self.escape(value)))"
        case .present(let attr): return "(\(attr)=*)"
        case .substring(let attr, let initial, let any, let final):
            var s = "(\(attr)=" + (initial.map(Self.escape) ?? "") + "*"
            for part in any { s += Self.escape(part) + "*" }
            s += (final.map(Self.escape) ?? "") + ")"
            return s
        case .raw(let text):
            return text.hasPrefix("(") ? text : "(\(text))"
        }
    }

    public var description: String { string }
}
