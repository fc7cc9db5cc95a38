import CLDAP
import Dispatch
import Foundation
import Synchronization

/// One libldap session (`LDAP *`) in ``LDAPClient``'s pool, used by one caller at a time.
///
/// Opening the session (TCP connect and bind) is blocking and runs on the connection's
/// own serial dispatch queue, never on Swift's cooperative pool. Operations are sent with
/// libldap's asynchronous calls and answered by the session's reader thread (see
/// `LDAPSession`), so an awaiting task suspends without occupying any thread; the blocking
/// forms used inside ``LDAPClient/withConnection(_:)`` wait on a semaphore instead. A
/// connection re-opens and re-binds itself when the server went away (slapd restarted)
/// and retries the operation within ``LDAPConfiguration/reconnectWindow``.
public final class LDAPConnection: @unchecked Sendable {
    /// The queue on which sessions are opened and `withConnection` bodies run.
    let queue: DispatchQueue
    let configuration: LDAPConfiguration
    private let label: String
    /// The reader thread's name (Linux keeps at most 15 bytes of a thread name).
    private let threadName: String
    private let current = Mutex<LDAPSession?>(nil)

    init(configuration: LDAPConfiguration, number: Int) {
        self.configuration = configuration
        self.label = "tollgate.ldap.connection.\(number)"
        self.threadName = "ldap-reader-\(number % 1000)"
        self.queue = DispatchQueue(label: label)
    }

    deinit {
        current.withLock { $0 }?.close()
    }

    // MARK: - Session

    /// The open session, or `nil` when it must be (re-)opened.
    private func liveSession() -> LDAPSession? {
        guard let session = current.withLock({ $0 }), session.isAlive else { return nil }
        return session
    }

    /// Opens the session and binds if it is not open yet. Blocking: call it off the
    /// cooperative pool (on `queue`).
    private func connectedSession() throws -> LDAPSession {
        if let session = liveSession() { return session }
        close()
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
            let error = LDAPSession.errorResponse(ld, rc).error("bind to \(configuration.url)")
            ldap_unbind_ext_s(ld, nil, nil)
            throw error
        }
        let session = LDAPSession(handle: ld, operationTimeout: configuration.operationTimeout, label: threadName)
        current.withLock { $0 = session }
        return session
    }

    /// Drops the session (it is re-opened on next use).
    func close() {
        let session = current.withLock { current -> LDAPSession? in
            defer { current = nil }
            return current
        }
        session?.close()
    }

    /// Runs `body` with a bound session; on connection loss re-connects and retries until
    /// the reconnect window is over. Blocking: runs on `queue`.
    func perform<T>(_ body: (LDAPSession) throws -> T) throws -> T {
        let deadline = Date().addingTimeInterval(configuration.reconnectWindow)
        var attempt = 0
        while true {
            do {
                return try body(connectedSession())
            } catch let error as LDAPError where error.code == .serverDown || error.code == .connectError {
                close()
                attempt += 1
                if Date() >= deadline { throw error }
                Thread.sleep(forTimeInterval: Self.backoff(attempt))
            } catch let error as LDAPError where error.code == .timeout {
                close()
                throw error
            }
        }
    }

    /// The async form of ``perform(_:)``: only (re-)connecting hops to `queue`.
    func performAsync<T>(_ body: (LDAPSession) async throws -> T) async throws -> T {
        let deadline = Date().addingTimeInterval(configuration.reconnectWindow)
        var attempt = 0
        while true {
            do {
                let session: LDAPSession
                if let live = liveSession() {
                    session = live
                } else {
                    session = try await withCheckedThrowingContinuation { continuation in
                        queue.async { continuation.resume(with: Result { try self.connectedSession() }) }
                    }
                }
                return try await body(session)
            } catch let error as LDAPError where error.code == .serverDown || error.code == .connectError {
                close()
                attempt += 1
                if Date() >= deadline { throw error }
                try? await Task.sleep(nanoseconds: UInt64(Self.backoff(attempt) * 1e9))
            } catch let error as LDAPError where error.code == .timeout {
                close()
                throw error
            }
        }
    }

    private static func backoff(_ attempt: Int) -> Double {
        min(0.02 * Double(1 << min(attempt, 6)), 0.5)
    }

    /// Sends one request and suspends until the reader thread has its answer.
    func roundTrip(
        _ session: LDAPSession, wantsPageControl: Bool = false,
        _ send: (OpaquePointer, UnsafeMutablePointer<Int32>) -> Int32
    ) async -> LDAPResponse {
        await withUnsafeContinuation { continuation in
            session.start(wantsPageControl: wantsPageControl, waiter: .task(continuation), send)
        }
    }

    /// Sends one request and blocks the calling (non-cooperative) thread until the answer.
    private func blockingRoundTrip(
        _ session: LDAPSession, wantsPageControl: Bool = false,
        _ send: (OpaquePointer, UnsafeMutablePointer<Int32>) -> Int32
    ) -> LDAPResponse {
        let waiter = BlockingWaiter()
        session.start(wantsPageControl: wantsPageControl, waiter: .thread(waiter), send)
        return waiter.wait()
    }

    // MARK: - Requests

    private func sendSearch(
        _ ld: OpaquePointer, _ msgid: UnsafeMutablePointer<Int32>, base: DistinguishedName, scope: LDAPSearchScope,
        filter: String, attributes: CStringArray, sizeLimit: Int, pageSize: Int?, cookie: [UInt8]?
    ) -> Int32 {
        // The timeout also becomes the request's time limit, as with ldap_search_ext_s.
        var timeout = Self.makeTimeval(configuration.operationTimeout)
        guard let pageSize else {
            return ldap_search_ext(ld, base.string, scope.rawValue, filter, attributes.pointer, 0, nil, nil,
                                   &timeout, Int32(sizeLimit), msgid)
        }
        var pageControl: UnsafeMutablePointer<LDAPControl>?
        var rc: Int32
        if let cookie, !cookie.isEmpty {
            rc = cookie.withUnsafeBufferPointer { buffer in
                var value = berval(bv_len: ber_len_t(buffer.count),
                                   bv_val: buffer.baseAddress.map { UnsafeMutableRawPointer(mutating: $0).assumingMemoryBound(to: CChar.self) })
                return ldap_create_page_control(ld, Int32(pageSize), &value, 0, &pageControl)
            }
        } else {
            rc = ldap_create_page_control(ld, Int32(pageSize), nil, 0, &pageControl)
        }
        guard rc == LDAP_SUCCESS else { return rc }
        defer { if let pageControl { ldap_control_free(pageControl) } }
        var controls: [UnsafeMutablePointer<LDAPControl>?] = [pageControl, nil]
        return controls.withUnsafeMutableBufferPointer { controls in
            ldap_search_ext(ld, base.string, scope.rawValue, filter, attributes.pointer, 0, controls.baseAddress, nil,
                            &timeout, Int32(sizeLimit), msgid)
        }
    }

    /// Accumulates one page; returns the cookie for the next page, or `nil` when done.
    private static func takePage(
        _ response: LDAPResponse, into entries: inout [LDAPEntry], paged: Bool, operation: () -> String
    ) throws -> [UInt8]? {
        if response.code != LDAP_SUCCESS { throw response.error(operation()) }
        if entries.isEmpty { entries = response.entries } else { entries += response.entries }
        guard paged, let cookie = response.pageCookie, !cookie.isEmpty else { return nil }
        return cookie
    }

    static func modList(_ modifications: [LDAPModification]) -> [(Int32, String, [Data])] {
        modifications.map { m -> (Int32, String, [Data]) in
            switch m.operation {
            case .add: return (Int32(LDAP_MOD_ADD), m.attribute, m.values)
            case .delete: return (Int32(LDAP_MOD_DELETE), m.attribute, m.values)
            case .replace: return (Int32(LDAP_MOD_REPLACE), m.attribute, m.values)
            }
        }
    }

    private static func sendPasswordModify(
        _ ld: OpaquePointer, _ msgid: UnsafeMutablePointer<Int32>, dn: DistinguishedName, newPassword: String
    ) -> Int32 {
        dn.string.withCString { dnPtr in
            var user = berval(bv_len: ber_len_t(strlen(dnPtr)), bv_val: UnsafeMutablePointer(mutating: dnPtr))
            return withBerval(Data(newPassword.utf8)) { newpw in
                ldap_passwd(ld, &user, nil, newpw, nil, nil, msgid)
            }
        }
    }

    private static func compareResult(_ response: LDAPResponse, _ operation: () -> String) throws -> Bool {
        switch response.code {
        case LDAP_COMPARE_TRUE: return true
        case LDAP_COMPARE_FALSE: return false
        default: throw response.error(operation())
        }
    }

    static func check(_ response: LDAPResponse, _ operation: () -> String) throws {
        if response.code != LDAP_SUCCESS { throw response.error(operation()) }
    }

    private static func authzid(_ response: LDAPResponse) throws -> String {
        try check(response) { "whoami" }
        guard let value = response.extendedValue else { return "" }
        return String(decoding: value, as: UTF8.self)
    }

    // MARK: - Operations, async (the pool's fast path)

    /// The executor of the session's reader thread (see ``ReaderThreadExecutor``); opens
    /// the session if needed.
    func readerExecutor() async throws -> ReaderThreadExecutor {
        try await performAsync { session in
            guard session.startReaderIfNeeded() else {
                throw LDAPError(code: .serverDown, operation: "start the reader thread",
                                diagnosticMessage: "the connection was lost")
            }
            return session.executor
        }
    }

    func searchAsync(
        base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter,
        attributes: [String]?, sizeLimit: Int, pageSize: Int?
    ) async throws -> [LDAPEntry] {
        let filterString = filter.string
        let attributeList = CStringArray(attributes)
        defer { attributeList.deallocate() }
        return try await performAsync { session in
            var entries: [LDAPEntry] = []
            var cookie: [UInt8]?
            repeat {
                let response = await roundTrip(session, wantsPageControl: pageSize != nil) { ld, msgid in
                    sendSearch(ld, msgid, base: base, scope: scope, filter: filterString, attributes: attributeList,
                               sizeLimit: sizeLimit, pageSize: pageSize, cookie: cookie)
                }
                cookie = try Self.takePage(response, into: &entries, paged: pageSize != nil) {
                    "search \(base) \(filterString)"
                }
            } while cookie != nil
            return entries
        }
    }

    func addAsync(_ dn: DistinguishedName, attributes: [(String, [Data])]) async throws {
        let mods = attributes.map { (Int32(LDAP_MOD_ADD), $0.0, $0.1) }
        try await performAsync { session in
            let response = await roundTrip(session) { ld, msgid in
                Self.withMods(mods) { ldap_add_ext(ld, dn.string, $0, nil, nil, msgid) }
            }
            try Self.check(response) { "add \(dn)" }
        }
    }

    func modifyAsync(_ dn: DistinguishedName, _ modifications: [LDAPModification]) async throws {
        let mods = Self.modList(modifications)
        try await performAsync { session in
            let response = await roundTrip(session) { ld, msgid in
                Self.withMods(mods) { ldap_modify_ext(ld, dn.string, $0, nil, nil, msgid) }
            }
            try Self.check(response) { "modify \(dn)" }
        }
    }

    func deleteAsync(_ dn: DistinguishedName) async throws {
        try await performAsync { session in
            let response = await roundTrip(session) { ld, msgid in ldap_delete_ext(ld, dn.string, nil, nil, msgid) }
            try Self.check(response) { "delete \(dn)" }
        }
    }

    func compareAsync(_ dn: DistinguishedName, attribute: String, value: Data) async throws -> Bool {
        try await performAsync { session in
            let response = await roundTrip(session) { ld, msgid in
                Self.withBerval(value) { ldap_compare_ext(ld, dn.string, attribute, $0, nil, nil, msgid) }
            }
            return try Self.compareResult(response) { "compare \(dn) \(attribute)" }
        }
    }

    func passwordModifyAsync(_ dn: DistinguishedName, newPassword: String) async throws {
        try await performAsync { session in
            let response = await roundTrip(session) { ld, msgid in
                Self.sendPasswordModify(ld, msgid, dn: dn, newPassword: newPassword)
            }
            try Self.check(response) { "password modify \(dn)" }
        }
    }

    func whoAmIAsync() async throws -> String {
        try await performAsync { session in
            try Self.authzid(await roundTrip(session) { ld, msgid in ldap_whoami(ld, nil, nil, msgid) })
        }
    }

    // MARK: - Operations, blocking (run on `queue`, e.g. inside `withConnection`)

    func search(
        base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter,
        attributes: [String]?, sizeLimit: Int, pageSize: Int?
    ) throws -> [LDAPEntry] {
        let filterString = filter.string
        let attributeList = CStringArray(attributes)
        defer { attributeList.deallocate() }
        return try perform { session in
            var entries: [LDAPEntry] = []
            var cookie: [UInt8]?
            repeat {
                let response = blockingRoundTrip(session, wantsPageControl: pageSize != nil) { ld, msgid in
                    sendSearch(ld, msgid, base: base, scope: scope, filter: filterString, attributes: attributeList,
                               sizeLimit: sizeLimit, pageSize: pageSize, cookie: cookie)
                }
                cookie = try Self.takePage(response, into: &entries, paged: pageSize != nil) {
                    "search \(base) \(filterString)"
                }
            } while cookie != nil
            return entries
        }
    }

    func add(_ dn: DistinguishedName, attributes: [(String, [Data])]) throws {
        let mods = attributes.map { (Int32(LDAP_MOD_ADD), $0.0, $0.1) }
        try perform { session in
            let response = blockingRoundTrip(session) { ld, msgid in
                Self.withMods(mods) { ldap_add_ext(ld, dn.string, $0, nil, nil, msgid) }
            }
            try Self.check(response) { "add \(dn)" }
        }
    }

    func modify(_ dn: DistinguishedName, _ modifications: [LDAPModification]) throws {
        let mods = Self.modList(modifications)
        try perform { session in
            let response = blockingRoundTrip(session) { ld, msgid in
                Self.withMods(mods) { ldap_modify_ext(ld, dn.string, $0, nil, nil, msgid) }
            }
            try Self.check(response) { "modify \(dn)" }
        }
    }

    func delete(_ dn: DistinguishedName) throws {
        try perform { session in
            let response = blockingRoundTrip(session) { ld, msgid in ldap_delete_ext(ld, dn.string, nil, nil, msgid) }
            try Self.check(response) { "delete \(dn)" }
        }
    }

    func compare(_ dn: DistinguishedName, attribute: String, value: Data) throws -> Bool {
        try perform { session in
            let response = blockingRoundTrip(session) { ld, msgid in
                Self.withBerval(value) { ldap_compare_ext(ld, dn.string, attribute, $0, nil, nil, msgid) }
            }
            return try Self.compareResult(response) { "compare \(dn) \(attribute)" }
        }
    }

    func passwordModify(_ dn: DistinguishedName, newPassword: String) throws {
        try perform { session in
            let response = blockingRoundTrip(session) { ld, msgid in
                Self.sendPasswordModify(ld, msgid, dn: dn, newPassword: newPassword)
            }
            try Self.check(response) { "password modify \(dn)" }
        }
    }

    func whoAmI() throws -> String {
        try perform { session in
            try Self.authzid(blockingRoundTrip(session) { ld, msgid in ldap_whoami(ld, nil, nil, msgid) })
        }
    }

    // MARK: - C helpers

    static func makeTimeval(_ seconds: Double) -> timeval {
        let whole = Int(seconds)
        return timeval(tv_sec: whole, tv_usec: Int((seconds - Double(whole)) * 1_000_000))
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

/// A NULL-terminated C array of C strings (e.g. a search's attribute list) in one
/// allocation; free it with ``deallocate()``.
struct CStringArray: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

    init(_ strings: [String]?) {
        guard let strings else {
            pointer = nil
            return
        }
        let slots = strings.count + 1
        let slotBytes = slots * MemoryLayout<UnsafeMutablePointer<CChar>?>.stride
        let textBytes = strings.reduce(0) { $0 + $1.utf8.count + 1 }
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: slotBytes + textBytes, alignment: MemoryLayout<UnsafeMutablePointer<CChar>?>.alignment)
        let array = raw.bindMemory(to: UnsafeMutablePointer<CChar>?.self, capacity: slots)
        var text = (raw + slotBytes).bindMemory(to: CChar.self, capacity: textBytes)
        for (index, string) in strings.enumerated() {
            array[index] = text
            for byte in string.utf8 {
                text.pointee = CChar(bitPattern: byte)
                text += 1
            }
            text.pointee = 0
            text += 1
        }
        array[strings.count] = nil
        pointer = array
    }

    func deallocate() {
        if let pointer { UnsafeMutableRawPointer(pointer).deallocate() }
    }
}
