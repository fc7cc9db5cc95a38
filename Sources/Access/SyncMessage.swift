import CLDAP
import Foundation
import LDAPClient

/// Decoding helpers for the messages libldap's `ldap_sync_*` hands to its callbacks.
enum SyncMessage {
    /// The entry in a search-entry message: DN and all attribute values.
    static func entry(_ ld: OpaquePointer, _ message: OpaquePointer) -> LDAPEntry? {
        guard let dnPointer = ldap_get_dn(ld, message) else { return nil }
        let dn = String(cString: dnPointer)
        ldap_memfree(dnPointer)
        var attributes: [String: [Data]] = [:]
        var ber: OpaquePointer?
        var name = ldap_first_attribute(ld, message, &ber)
        while let attribute = name {
            var collected: [Data] = []
            if let values = ldap_get_values_len(ld, message, attribute) {
                var index = 0
                while let value = values[index] {
                    if let bytes = value.pointee.bv_val {
                        collected.append(Data(bytes: bytes, count: Int(value.pointee.bv_len)))
                    } else {
                        collected.append(Data())
                    }
                    index += 1
                }
                ldap_value_free_len(values)
            }
            attributes[String(cString: attribute), default: []] += collected
            ldap_memfree(attribute)
            name = ldap_next_attribute(ld, message, ber)
        }
        if let ber { ber_free(ber, 0) }
        return LDAPEntry(dn: DistinguishedName(dn), attributes: attributes)
    }

    /// The kind of a syncInfo intermediate message that ends a refresh phase: true for
    /// refreshPresent (`[2]`, tag 0xa2), false for refreshDelete (`[1]`, 0xa1), nil if
    /// it is neither.
    static func endsPresentPhase(_ ld: OpaquePointer, _ message: OpaquePointer) -> Bool? {
        var oid: UnsafeMutablePointer<CChar>?
        var data: UnsafeMutablePointer<berval>?
        guard ldap_parse_intermediate(ld, message, &oid, &data, nil, 0) == LDAP_SUCCESS else { return nil }
        defer {
            if let oid { ldap_memfree(oid) }
            if let data { ber_bvfree(data) }
        }
        guard let data, data.pointee.bv_len > 0, let bytes = data.pointee.bv_val else { return nil }
        switch UInt8(bitPattern: bytes[0]) {
        case 0xa2: return true
        case 0xa1: return false
        default: return nil
        }
    }

    /// The result code and diagnostic message of a search-result message.
    static func result(_ ld: OpaquePointer, _ message: OpaquePointer) -> (code: Int32, message: String) {
        var code: Int32 = 0
        var diagnostic: UnsafeMutablePointer<CChar>?
        let rc = ldap_parse_result(ld, message, &code, nil, &diagnostic, nil, nil, 0)
        defer { if let diagnostic { ldap_memfree(diagnostic) } }
        if rc != LDAP_SUCCESS { return (rc, "cannot parse the search result") }
        return (code, diagnostic.map { String(cString: $0) } ?? "")
    }

    /// The 16 bytes of an entryUUID as a key.
    static func uuid(_ value: UnsafePointer<berval>) -> ReplicaBuilder.UUID? {
        guard let bytes = value.pointee.bv_val else { return nil }
        return ReplicaBuilder.UUID(UnsafeRawBufferPointer(start: bytes, count: Int(value.pointee.bv_len)))
    }
}
