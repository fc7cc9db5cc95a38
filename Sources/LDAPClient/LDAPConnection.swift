import CLDAP
import Dispatch
import Foundation

/// One libldap session (`LDAP *`), used by one thread at a time.
///
/// Every call on it is blocking and runs on the connection's own serial dispatch queue,
/// never on Swift's cooperative pool; ``LDAPClient`` hands connections out and bridges
/// their results back with continuations. A connection re-opens and re-binds itself when
/// the server went away (slapd restarted) and retries the operation within
/// ``LDAPConfiguration/reconnectWindow``.
public final class LDAPConnection: @unchecked Sendable {
    /// The queue that owns this connection's handle; all members below run on it.
    let queue: DispatchQueue
    let configuration: LDAPConfiguration
    private var handle: OpaquePointer?

    init(configuration: LDAPConfiguration, number: Int) {
        self.configuration = configuration
        self.queue = DispatchQueue(label: "tollgate.ldap.connection.\(number)")
    }

    deinit {
        if let handle { ldap_unbind_ext_s(handle, nil, nil) }
    }

    // MARK: - Session

    /// Opens the session and binds if it is not open yet.
    private func connectedHandle() throws -> OpaquePointer {
        if let handle { return handle }
        var ld: OpaquePointer?
        var rc = ldap_initialize(&ld, configuration.url)
        guard rc == LDAP_SUCCESS, let ld else {
            throw LDAPError(code: LDAPResultCode(rawValue: rc), operation: "connect \(configuration.url)",
                            diagnosticMessage: "invalid LDAP URL")
        }
        var version: Int32 = 3
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)
        ldap_set_option(ld, LDAP_OPT_REFERRALS, nil)  // LDAP_OPT_OFF: report referrals, don't chase
        var connectTimeout = Self.makeTimeval(configuration.connectTimeout)
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &connectTimeout)
        var opTimeout = Self.makeTimeval(configuration.operationTimeout)
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &opTimeout)

        switch configuration.credentials {
        case .anonymous:
            // Force the TCP connect now so that connection errors surface here.
            rc = ldap_connect(ld)
        case .simple(let dn, let password):
            rc = Self.withBerval(Data(password.utf8)) { cred in
                ldap_sasl_bind_s(ld, dn.string, nil, cred, nil, nil, nil)
            }
        case .saslExternal:
            // An empty initial response: authorize as the authenticated (peer) identity.
            rc = Self.withBerval(Data()) { cred in ldap_sasl_bind_s(ld, nil, "EXTERNAL", cred, nil, nil, nil) }
        }
        if rc != LDAP_SUCCESS {
            let error = Self.error(ld, rc, "bind to \(configuration.url)")
            ldap_unbind_ext_s(ld, nil, nil)
            throw error
        }
        handle = ld
        return ld
    }

    /// Drops the session (it is re-opened on next use).
    func close() {
        if let handle { ldap_unbind_ext_s(handle, nil, nil) }
        handle = nil
    }

    /// Runs `body` with a bound handle; on connection loss re-connects and retries until
    /// the reconnect window is over.
    func perform<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        let deadline = Date().addingTimeInterval(configuration.reconnectWindow)
        var attempt = 0
        while true {
            do {
                return try body(connectedHandle())
            } catch let error as LDAPError where error.code == .serverDown || error.code == .connectError {
                close()
                attempt += 1
                if Date() >= deadline { throw error }
                let delay = min(0.02 * Double(1 << min(attempt, 6)), 0.5)
                Thread.sleep(forTimeInterval: delay)
            } catch let error as LDAPError where error.code == .timeout {
                close()
                throw error
            }
        }
    }

    // MARK: - Operations (run on `queue`)

    func search(
        base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter,
        attributes: [String]?, sizeLimit: Int, pageSize: Int?
    ) throws -> [LDAPEntry] {
        try perform { ld in
            var entries: [LDAPEntry] = []
            var cookie = berval(bv_len: 0, bv_val: nil)
            defer { if cookie.bv_val != nil { ber_memfree(cookie.bv_val) } }
            let filterString = filter.string
            // Only needed for errors: built on demand, not on every search.
            func operation() -> String { "search \(base) \(filterString)" }
            repeat {
                var pageControl: UnsafeMutablePointer<LDAPControl>?
                if let pageSize {
                    let hasCookie = cookie.bv_val != nil
                    let rc = withUnsafeMutablePointer(to: &cookie) { cookiePtr in
                        ldap_create_page_control(ld, Int32(pageSize), hasCookie ? cookiePtr : nil, 0, &pageControl)
                    }
                    if rc != LDAP_SUCCESS { throw Self.error(ld, rc, operation()) }
                }
                defer { if let pageControl { ldap_control_free(pageControl) } }
                var result: OpaquePointer?
                defer { if let result { ldap_msgfree(result) } }
                var timeout = Self.makeTimeval(configuration.operationTimeout)
                var controls: [UnsafeMutablePointer<LDAPControl>?] = [pageControl, nil]
                let rc = Self.withCStringArray(attributes) { attrs in
                    controls.withUnsafeMutableBufferPointer { ctrls in
                        ldap_search_ext_s(ld, base.string, scope.rawValue, filterString, attrs, 0,
                                          pageControl == nil ? nil : ctrls.baseAddress, nil,
                                          &timeout, Int32(sizeLimit), &result)
                    }
                }
                guard let result else { throw Self.error(ld, rc, operation()) }
                entries += Self.entries(ld, result)
                // The real result code and the paging cookie from the SearchResultDone.
                var code: Int32 = 0
                var matched: UnsafeMutablePointer<CChar>?
                var message: UnsafeMutablePointer<CChar>?
                var serverControls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
                let parse = ldap_parse_result(ld, result, &code, &matched, &message, nil, &serverControls, 0)
                defer {
                    if let matched { ldap_memfree(matched) }
                    if let message { ldap_memfree(message) }
                    if let serverControls { ldap_controls_free(serverControls) }
                }
                if parse != LDAP_SUCCESS { throw Self.error(ld, parse, operation()) }
                if code != LDAP_SUCCESS {
                    throw LDAPError(code: LDAPResultCode(rawValue: code), operation: operation(),
                                    diagnosticMessage: message.map { String(cString: $0) } ?? "",
                                    matchedDN: matched.map { String(cString: $0) } ?? "")
                }
                guard pageSize != nil else { break }
                if cookie.bv_val != nil { ber_memfree(cookie.bv_val); cookie = berval(bv_len: 0, bv_val: nil) }
                guard let response = ldap_control_find("1.2.840.113556.1.4.319", serverControls, nil) else { break }
                var count: Int32 = 0
                let prc = ldap_parse_pageresponse_control(ld, response, &count, &cookie)
                if prc != LDAP_SUCCESS { throw Self.error(ld, prc, operation()) }
            } while cookie.bv_len > 0
            return entries
        }
    }

    func add(_ dn: DistinguishedName, attributes: [(String, [Data])]) throws {
        try perform { ld in
            let rc = Self.withMods(attributes.map { (Int32(LDAP_MOD_ADD), $0.0, $0.1) }) { mods in
                ldap_add_ext_s(ld, dn.string, mods, nil, nil)
            }
            if rc != LDAP_SUCCESS { throw Self.error(ld, rc, "add \(dn)") }
        }
    }

    func modify(_ dn: DistinguishedName, _ modifications: [LDAPModification]) throws {
        try perform { ld in
            let mods = modifications.map { m -> (Int32, String, [Data]) in
                switch m.operation {
                case .add: return (Int32(LDAP_MOD_ADD), m.attribute, m.values)
                case .delete: return (Int32(LDAP_MOD_DELETE), m.attribute, m.values)
                case .replace: return (Int32(LDAP_MOD_REPLACE), m.attribute, m.values)
                }
            }
            let rc = Self.withMods(mods) { ldap_modify_ext_s(ld, dn.string, $0, nil, nil) }
            if rc != LDAP_SUCCESS { throw Self.error(ld, rc, "modify \(dn)") }
        }
    }

    func delete(_ dn: DistinguishedName) throws {
        try perform { ld in
            let rc = ldap_delete_ext_s(ld, dn.string, nil, nil)
            if rc != LDAP_SUCCESS { throw Self.error(ld, rc, "delete \(dn)") }
        }
    }

    func compare(_ dn: DistinguishedName, attribute: String, value: Data) throws -> Bool {
        try perform { ld in
            let rc = Self.withBerval(value) { ldap_compare_ext_s(ld, dn.string, attribute, $0, nil, nil) }
            switch rc {
            case LDAP_COMPARE_TRUE: return true
            case LDAP_COMPARE_FALSE: return false
            default: throw Self.error(ld, rc, "compare \(dn) \(attribute)")
            }
        }
    }

    func passwordModify(_ dn: DistinguishedName, newPassword: String) throws {
        try perform { ld in
            var user = berval(bv_len: 0, bv_val: nil)
            var out = berval(bv_len: 0, bv_val: nil)
            let rc = dn.string.withCString { dnPtr in
                user = berval(bv_len: ber_len_t(strlen(dnPtr)), bv_val: UnsafeMutablePointer(mutating: dnPtr))
                return Self.withBerval(Data(newPassword.utf8)) { newpw in
                    ldap_passwd_s(ld, &user, nil, newpw, &out, nil, nil)
                }
            }
            if out.bv_val != nil { ber_memfree(out.bv_val) }
            if rc != LDAP_SUCCESS { throw Self.error(ld, rc, "password modify \(dn)") }
        }
    }

    func whoAmI() throws -> String {
        try perform { ld in
            var authzid: UnsafeMutablePointer<berval>?
            let rc = ldap_whoami_s(ld, &authzid, nil, nil)
            defer { if let authzid { ber_bvfree(authzid) } }
            if rc != LDAP_SUCCESS { throw Self.error(ld, rc, "whoami") }
            guard let authzid, let val = authzid.pointee.bv_val else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: val, count: Int(authzid.pointee.bv_len)), as: UTF8.self)
        }
    }

    // MARK: - C helpers

    static func makeTimeval(_ seconds: Double) -> timeval {
        let whole = Int(seconds)
        return timeval(tv_sec: whole, tv_usec: Int((seconds - Double(whole)) * 1_000_000))
    }

    /// The error for `rc`, with the diagnostic message and matched DN libldap kept.
    static func error(_ ld: OpaquePointer, _ rc: Int32, _ operation: String) -> LDAPError {
        var message: UnsafeMutablePointer<CChar>?
        var matched: UnsafeMutablePointer<CChar>?
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message)
        ldap_get_option(ld, LDAP_OPT_MATCHED_DN, &matched)
        defer {
            if let message { ldap_memfree(message) }
            if let matched { ldap_memfree(matched) }
        }
        return LDAPError(code: LDAPResultCode(rawValue: rc), operation: operation,
                         diagnosticMessage: message.map { String(cString: $0) } ?? "",
                         matchedDN: matched.map { String(cString: $0) } ?? "")
    }

    static func entries(_ ld: OpaquePointer, _ result: OpaquePointer) -> [LDAPEntry] {
        var entries: [LDAPEntry] = []
        var current = ldap_first_entry(ld, result)
        while let message = current {
            var dn = ""
            if let dnPtr = ldap_get_dn(ld, message) {
                dn = String(cString: dnPtr)
                ldap_memfree(dnPtr)
            }
            var entry = LDAPEntry(dn: DistinguishedName(dn))
            var ber: OpaquePointer?
            var attribute = ldap_first_attribute(ld, message, &ber)
            while let name = attribute {
                if let values = ldap_get_values_len(ld, message, name) {
                    var collected: [Data] = []
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
                    entry.append(String(cString: name), collected)
                }
                ldap_memfree(name)
                attribute = ldap_next_attribute(ld, message, ber)
            }
            if let ber { ber_free(ber, 0) }
            entries.append(entry)
            current = ldap_next_entry(ld, message)
        }
        return entries
    }

    static func withBerval<R>(_ data: Data, _ body: (UnsafeMutablePointer<berval>) -> R) -> R {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(data.count, 1))
        defer { buffer.deallocate() }
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { buffer.initialize(from: base.assumingMemoryBound(to: CChar.self), count: data.count) }
        }
        var value = berval(bv_len: ber_len_t(data.count), bv_val: buffer)
        return body(&value)
    }

    static func withCStringArray<R>(_ strings: [String]?, _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> R) -> R {
        guard let strings else { return body(nil) }
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress) }
    }

    /// Builds a NULL-terminated `LDAPMod **` (binary values) for the duration of `body`.
    /// Everything is allocated with `malloc` and freed when `body` returns.
    static func withMods<R>(_ mods: [(Int32, String, [Data])], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<LDAPMod>?>) -> R) -> R {
        var allocations: [UnsafeMutableRawPointer?] = []
        defer { for a in allocations { free(a) } }
        func cAlloc<T>(_ type: T.Type, _ count: Int) -> UnsafeMutablePointer<T> {
            guard let raw = malloc(max(1, count) * MemoryLayout<T>.stride) else { fatalError("out of memory") }
            allocations.append(raw)
            return raw.bindMemory(to: T.self, capacity: max(1, count))
        }
        let modArray = cAlloc(UnsafeMutablePointer<LDAPMod>?.self, mods.count + 1)
        for (index, (op, type, values)) in mods.enumerated() {
            let bvals = cAlloc(UnsafeMutablePointer<berval>?.self, values.count + 1)
            for (i, value) in values.enumerated() {
                let bytes = cAlloc(CChar.self, value.count)
                value.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { memcpy(bytes, base, value.count) }
                }
                let bv = cAlloc(berval.self, 1)
                bv.initialize(to: berval(bv_len: ber_len_t(value.count), bv_val: bytes))
                bvals[i] = bv
            }
            bvals[values.count] = nil
            let typeCopy = strdup(type)
            allocations.append(typeCopy)
            let mod = cAlloc(LDAPMod.self, 1)
            mod.initialize(to: LDAPMod())
            mod.pointee.mod_op = op | Int32(LDAP_MOD_BVALUES)
            mod.pointee.mod_type = typeCopy
            // A delete of the whole attribute carries no value list.
            mod.pointee.mod_vals.modv_bvals = values.isEmpty && op == Int32(LDAP_MOD_DELETE) ? nil : bvals
            modArray[index] = mod
        }
        modArray[mods.count] = nil
        return body(modArray)
    }
}
