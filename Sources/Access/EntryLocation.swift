import Foundation
import Directory
import LDAPClient

/// Where a synchronised entry sits in Tollgate's DIT, worked out from its DN alone (the
/// tenant of an entry is the subtree it is in, never an attribute value).
enum EntryLocation: Equatable {
    /// `cn=NAME,ou=CONTAINER,tgOrgNumber=ORG,ou=subscribers,SUFFIX`.
    case tenant(org: String, container: String, name: String)
    /// `tgCertificateSerial=SERIAL,ou=revoked,ou=pki,SUFFIX`.
    case revoked(serial: String)
    /// `tgOrgNumber=ORG,ou=subscribers,SUFFIX`: the tenant's own entry.
    case subscriber(org: String)
    case elsewhere

    /// Parses `dn` relative to `suffix` (both as the server writes them).
    init(dn: String, suffix: [RDN]) {
        guard let rdns = RDN.parse(dn), rdns.count > suffix.count, Array(rdns.suffix(suffix.count)) == suffix else {
            self = .elsewhere
            return
        }
        let local = Array(rdns.dropLast(suffix.count))
        if local.count == 4, local[3] == RDN(type: "ou", value: "subscribers"), local[2].type == "tgorgnumber",
           local[1].type == "ou", local[0].type == "cn" {
            self = .tenant(org: local[2].original, container: local[1].value, name: local[0].original)
        } else if local.count == 2, local[1] == RDN(type: "ou", value: "subscribers"), local[0].type == "tgorgnumber" {
            self = .subscriber(org: local[0].original)
        } else if local.count == 3, local[2] == RDN(type: "ou", value: "pki"), local[1] == RDN(type: "ou", value: "revoked"),
                  local[0].type == "tgcertificateserial" {
            self = .revoked(serial: local[0].value)
        } else {
            self = .elsewhere
        }
    }
}

/// One single-valued RDN: type and value lower-cased for comparison, the value also as
/// written (unescaped).
struct RDN: Equatable {
    var type: String
    var value: String
    var original: String

    init(type: String, value: String) {
        self.type = type.lowercased()
        self.original = value
        self.value = value.lowercased()
    }

    static func == (lhs: RDN, rhs: RDN) -> Bool { lhs.type == rhs.type && lhs.value == rhs.value }

    /// Splits a DN at unescaped commas; nil for multi-valued RDNs or malformed text.
    static func parse(_ dn: String) -> [RDN]? {
        var rdns: [RDN] = []
        var current = ""
        var escaped = false
        var parts: [String] = []
        for character in dn {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            switch character {
            case "\\":
                current.append(character)
                escaped = true
            case ",":
                parts.append(current)
                current = ""
            case "+":
                return nil
            default:
                current.append(character)
            }
        }
        parts.append(current)
        for part in parts {
            guard let equals = part.firstIndex(of: "=") else { return nil }
            let type = part[..<equals].trimmingCharacters(in: .whitespaces)
            let value = String(part[part.index(after: equals)...])
            guard !type.isEmpty else { return nil }
            rdns.append(RDN(type: type, value: DistinguishedName.unescape(value)))
        }
        return rdns
    }
}

/// LDAPClient's DN type, by a name that X509's `DistinguishedName` does not shadow.
typealias LDAPDistinguishedName = DistinguishedName
