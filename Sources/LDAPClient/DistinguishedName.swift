/// A distinguished name built from attribute/value pairs, escaped per RFC 4514 when rendered.
///
/// Build DNs from typed parts so that a value such as `,cn=admin` stays a value:
/// ```swift
/// let base = DistinguishedName("dc=tollgate")
/// let dn = base.child("cn", userInput)   // cn=\,cn\=admin,dc=tollgate
/// ```
public struct DistinguishedName: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The rendered string form.
    public let string: String

    /// Wraps a DN string that is already in RFC 4514 form (from the server or from
    /// configuration). Do not pass untrusted values here; use ``child(_:_:)``.
    public init(_ string: String) { self.string = string }
    public init(stringLiteral value: String) { self.string = value }

    /// The DN of a child entry named `attribute=value`, the value escaped.
    public func child(_ attribute: String, _ value: String) -> DistinguishedName {
        let rdn = "\(attribute)=\(Self.escape(value))"
        return DistinguishedName(string.isEmpty ? rdn : "\(rdn),\(string)")
    }

    /// The DN of a descendant: `path` goes from the top down, e.g. `[("ou","x"),("cn","y")]`.
    public func descendant(_ path: [(String, String)]) -> DistinguishedName {
        path.reduce(self) { $0.child($1.0, $1.1) }
    }

    /// Escapes an attribute value for use in a DN per RFC 4514 §2.4: `"`, `+`, `,`, `;`, `<`,
    /// `>`, `\` and `=` get a backslash, NUL becomes `\00`, a leading `#` or space and a
    /// trailing space are escaped.
    public static func escape(_ value: String) -> String {
        var out = ""
        let scalars = Array(value.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case "\"", "+", ",", ";", "<", ">", "\\", "=":
                out += "\\"
                out.unicodeScalars.append(scalar)
            case "\u{0}":
                out += "\\00"
            case "#" where index == 0:
                out += "\\#"
            case " " where index == 0 || index == scalars.count - 1:
                out += "\\ "
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Reverses RFC 4514 escaping of a single value (`\,` and `\2c` forms).
    public static func unescape(_ value: String) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(value.utf8)
        var i = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 1 < utf8.count {
                if i + 2 < utf8.count, let h = hex(utf8[i + 1]), let l = hex(utf8[i + 2]) {
                    bytes.append(h << 4 | l)
                    i += 3
                } else {
                    bytes.append(utf8[i + 1])
                    i += 2
                }
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value of the first (leftmost) RDN, unescaped; `nil` if it is multi-valued or malformed.
    public var firstValue: String? {
        // Find the first unescaped ',' and the first unescaped '='.
        var escaped = false
        var equals: String.Index?
        var end = string.endIndex
        for index in string.indices {
            let c = string[index]
            if escaped { escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if c == "=" && equals == nil { equals = index }
            if c == "+" { return nil }
            if c == "," { end = index; break }
        }
        guard let eq = equals else { return nil }
        return Self.unescape(String(string[string.index(after: eq)..<end]))
    }

    public var description: String { string }
}
