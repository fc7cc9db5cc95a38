import CLDAP
import Directory
import Foundation
import LDAPClient
import Logging
import Synchronization

/// Keeps a ``PolicyReplica`` current with LDAP Content Synchronization (RFC 4533) in
/// refreshAndPersist mode, through libldap's `ldap_sync_*` API, on a dedicated thread
/// (every call it makes blocks; none runs on Swift's cooperative pool).
///
/// One search under the suffix selects destinations, converters (for their current
/// certificate) and revocation records. The first refresh loads everything; afterwards
/// slapd's syncprov pushes each add, modify and delete within milliseconds. When the
/// connection drops, the replica keeps its state (answers are marked stale) and the
/// session reconnects with back-off, presenting its sync cookie so that only the
/// differences are sent again (or everything, if the server asks for a full reload).
///
/// libldap 2.5's `ldap_sync_init`/`ldap_sync_poll` hand the head of the received message
/// chain to every callback rather than the message being processed; with one message per
/// `ldap_result` call (what libldap returns in practice) the two are the same. Should a
/// callback ever see a chain of several messages, the session drops its cookie and
/// starts over with a full refresh instead of applying the wrong message.
public final class ContentSyncSession: @unchecked Sendable {
    public let configuration: LDAPConfiguration
    public let replica: PolicyReplica
    public let layout: DirectoryLayout
    /// Where the synchronised search starts: the suffix for the server (as the service
    /// account); a subscriber may only synchronise its own subtree.
    public let base: DistinguishedName
    let logger: Logger

    /// Everything the replica needs, in one synchronised search.
    public static let filter = "(|(objectClass=tgDestination)(objectClass=tgConverter)(objectClass=tgRevokedCertificate)(objectClass=tgSubscriber))"
    static let attributes = AccessRule.attributeNames + ["tgState", "tgCertificateSerial", "userCertificate;binary"]

    private let stopping = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let syncedEntries = Atomic<Int>(0)

    // The state below is used by the synchronisation thread only.
    private let builder: ReplicaBuilder
    private var cookie: [UInt8]?
    private var fullRefresh = false
    private var refreshDone = false
    private var problem: String?
    private var ended: String?
    private var refreshRequired = false

    public init(configuration: LDAPConfiguration, replica: PolicyReplica, layout: DirectoryLayout = DirectoryLayout(),
                base: DistinguishedName? = nil, logger: Logger = Logger(label: "tollgate.access.sync")) {
        self.configuration = configuration
        self.replica = replica
        self.layout = layout
        self.base = base ?? layout.suffix
        self.logger = logger
        let problems = logger
        builder = ReplicaBuilder(suffix: layout.suffix) { problems.warning("\($0)") }
    }

    /// Starts the synchronisation thread (once).
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in run() }
        thread.name = "tollgate.access.sync"
        thread.start()
    }

    /// Asks the thread to stop; it does within about a second (or when the refresh in
    /// progress ends).
    public func stop() { stopping.store(true, ordering: .releasing) }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) }

    // MARK: - Thread

    private func run() {
        var failures = 0
        while !isStopping {
            let ld: OpaquePointer
            do {
                ld = try Self.open(configuration)
            } catch {
                replica.markDisconnected("\(error)")
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    logger.warning("access replica: cannot reach the directory; retrying", metadata: ["error": "\(error)"])
                }
                pause(Self.backoff(failures))
                continue
            }
            let reason = session(ld)
            ldap_unbind_ext(ld, nil, nil)
            replica.markDisconnected(reason)
            if isStopping { break }
            failures = refreshDone ? 1 : failures + 1
            logger.warning("access replica: synchronisation interrupted; reconnecting", metadata: ["reason": "\(reason)"])
            pause(Self.backoff(failures))
        }
    }

    private static func backoff(_ failures: Int) -> Double {
        min(5, 0.05 * Double(1 << min(failures, 7)))
    }

    private func pause(_ seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !isStopping && Date() < deadline { Thread.sleep(forTimeInterval: min(0.05, seconds)) }
    }

    /// One synchronised search on a bound connection, until it fails or the session
    /// stops; returns why it ended.
    private func session(_ ld: OpaquePointer) -> String {
        let ls = UnsafeMutablePointer<ldap_sync_t>.allocate(capacity: 1)
        ldap_sync_initialize(ls)
        let attributes = Self.attributes
        let attributeArray = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: attributes.count + 1)
        for (index, name) in attributes.enumerated() { attributeArray[index] = strdup(name) }
        attributeArray[attributes.count] = nil
        ls.pointee.ls_base = strdup(base.string)
        ls.pointee.ls_scope = 2  // LDAP_SCOPE_SUBTREE
        ls.pointee.ls_filter = strdup(Self.filter)
        ls.pointee.ls_attrs = attributeArray
        ls.pointee.ls_timeout = 1
        ls.pointee.ls_search_entry = syncSearchEntry
        ls.pointee.ls_intermediate = syncIntermediate
        ls.pointee.ls_search_result = syncSearchResult
        ls.pointee.ls_private = Unmanaged.passUnretained(self).toOpaque()
        ls.pointee.ls_ld = ld
        if let cookie, !cookie.isEmpty, let copy = ber_memalloc(ber_len_t(cookie.count)) {
            cookie.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress { copy.copyMemory(from: base, byteCount: bytes.count) }
            }
            ls.pointee.ls_cookie = berval(bv_len: ber_len_t(cookie.count), bv_val: copy.assumingMemoryBound(to: CChar.self))
        }
        defer {
            if let value = ls.pointee.ls_cookie.bv_val {
                if !refreshRequired && problem == nil {
                    cookie = Array(UnsafeRawBufferPointer(start: value, count: Int(ls.pointee.ls_cookie.bv_len)))
                }
                ber_memfree(value)
            }
            if refreshRequired || problem != nil { cookie = nil }
            free(ls.pointee.ls_base)
            free(ls.pointee.ls_filter)
            for index in 0..<attributes.count { free(attributeArray[index]) }
            attributeArray.deallocate()
            ls.deallocate()
        }

        fullRefresh = cookie == nil
        refreshDone = false
        problem = nil
        ended = nil
        refreshRequired = false
        builder.beginRefresh()
        let began = ContinuousClock.now
        let rc = ldap_sync_init(ls, LDAP_SYNC_REFRESH_AND_PERSIST)
        if let problem { return problem }
        guard rc == LDAP_SUCCESS, refreshDone else {
            return ended ?? Self.failure(ld, rc, "synchronisation refresh")
        }
        logger.info("access replica synchronised", metadata: [
            "entries": "\(builder.entryCount)", "tenants": "\(replica.tenantCount)", "full": "\(fullRefresh)",
            "ms": "\(Int((ContinuousClock.now - began) / .milliseconds(1)))"])

        while !isStopping {
            let rc = ldap_sync_poll(ls)
            if let problem { return problem }
            if let ended { return ended }
            if rc < 0 { return Self.failure(ld, rc, "synchronisation") }
            if rc > 0 { return Self.failure(ld, rc, "synchronisation") }
            replica.apply(builder.takeUpdate())
        }
        return "stopped"
    }

    private static func failure(_ ld: OpaquePointer, _ rc: Int32, _ operation: String) -> String {
        var code: Int32 = rc
        if rc < 0 { ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code) }
        return "\(operation): \(String(cString: ldap_err2string(code)))"
    }

    // MARK: - Callbacks (synchronisation thread)

    fileprivate func handleEntry(_ ld: OpaquePointer, _ message: OpaquePointer, _ uuid: UnsafePointer<berval>?,
                                 _ phase: ldap_sync_refresh_t) -> Int32 {
        guard checkSingle(ld, message) else { return LDAP_OTHER }
        guard let uuid, let key = SyncMessage.uuid(uuid) else {
            problem = "a synchronised entry came without a valid entryUUID"
            return LDAP_OTHER
        }
        switch phase {
        case LDAP_SYNC_CAPI_ADD, LDAP_SYNC_CAPI_MODIFY:
            guard let entry = SyncMessage.entry(ld, message) else {
                problem = "cannot decode a synchronised entry"
                return LDAP_OTHER
            }
            builder.upsert(key, entry)
            syncedEntries.add(1, ordering: .relaxed)
        case LDAP_SYNC_CAPI_PRESENT:
            builder.present(key)
        case LDAP_SYNC_CAPI_DELETE:
            builder.remove(key)
        default:
            break
        }
        return LDAP_SUCCESS
    }

    fileprivate func handleIntermediate(_ ld: OpaquePointer, _ message: OpaquePointer, _ uuids: UnsafeMutablePointer<berval>?,
                                        _ phase: ldap_sync_refresh_t) -> Int32 {
        guard checkSingle(ld, message) else { return LDAP_OTHER }
        switch phase {
        case LDAP_SYNC_CAPI_PRESENTS_IDSET, LDAP_SYNC_CAPI_DELETES_IDSET:
            var index = 0
            while let uuids, uuids[index].bv_val != nil {
                if let key = withUnsafePointer(to: uuids[index], { SyncMessage.uuid($0) }) {
                    if phase == LDAP_SYNC_CAPI_PRESENTS_IDSET { builder.present(key) } else { builder.remove(key) }
                }
                index += 1
            }
        case LDAP_SYNC_CAPI_PRESENTS, LDAP_SYNC_CAPI_DELETES, LDAP_SYNC_CAPI_DONE:
            // A refresh phase ended; the message says whether it was a present phase
            // (then everything not mentioned is gone). A refresh without cookie sent
            // the whole content, so it counts as one.
            let present = SyncMessage.endsPresentPhase(ld, message) ?? (phase == LDAP_SYNC_CAPI_PRESENTS)
            builder.endPhase(present: present || fullRefresh)
            if phase == LDAP_SYNC_CAPI_DONE {
                builder.endRefresh()
                replica.apply(builder.takeUpdate())
                replica.markSynced()
                refreshDone = true
            }
        default:
            break
        }
        return LDAP_SUCCESS
    }

    fileprivate func handleResult(_ ld: OpaquePointer, _ message: OpaquePointer) -> Int32 {
        let (code, text) = SyncMessage.result(ld, message)
        if code == 0x1000 {  // e-syncRefreshRequired (RFC 4533 §3.4.1): start over without cookie
            refreshRequired = true
            ended = "the server asked for a full reload"
        } else {
            ended = "the server ended the synchronised search: \(String(cString: ldap_err2string(code))) \(text)"
        }
        return LDAP_SUCCESS
    }

    /// See the type's documentation: a callback must see exactly one message.
    private func checkSingle(_ ld: OpaquePointer, _ message: OpaquePointer) -> Bool {
        guard ldap_next_message(ld, message) != nil else { return true }
        problem = "libldap delivered several sync messages in one chain; starting over with a full refresh"
        return false
    }

    // MARK: - Connecting

    /// Opens and binds a libldap handle as `configuration` says (blocking).
    static func open(_ configuration: LDAPConfiguration) throws -> OpaquePointer {
        var handle: OpaquePointer?
        var rc = ldap_initialize(&handle, configuration.url)
        guard rc == LDAP_SUCCESS, let ld = handle else {
            throw LDAPError(code: LDAPResultCode(rawValue: rc), operation: "connect \(configuration.url)",
                            diagnosticMessage: "invalid LDAP URL")
        }
        var version: Int32 = 3
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)
        ldap_set_option(ld, LDAP_OPT_REFERRALS, nil)
        let whole = Int(configuration.connectTimeout)
        var connectTimeout = timeval(tv_sec: whole, tv_usec: Int((configuration.connectTimeout - Double(whole)) * 1e6))
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &connectTimeout)
        // Notice a silently vanished server (no FIN/RST) within about 20 s.
        var idle: Int32 = 10, probes: Int32 = 3, interval: Int32 = 3
        ldap_set_option(ld, LDAP_OPT_X_KEEPALIVE_IDLE, &idle)
        ldap_set_option(ld, LDAP_OPT_X_KEEPALIVE_PROBES, &probes)
        ldap_set_option(ld, LDAP_OPT_X_KEEPALIVE_INTERVAL, &interval)
        switch configuration.credentials {
        case .anonymous:
            rc = ldap_connect(ld)
        case .simple(let dn, let password):
            var bytes = Array(password.utf8).map { CChar(bitPattern: $0) }
            rc = bytes.withUnsafeMutableBufferPointer { buffer in
                var credential = berval(bv_len: ber_len_t(buffer.count), bv_val: buffer.baseAddress)
                return ldap_sasl_bind_s(ld, dn.string, nil, &credential, nil, nil, nil)
            }
        case .saslExternal:
            // An empty (not absent) initial response: authorize as the peer identity.
            var byte: CChar = 0
            rc = withUnsafeMutablePointer(to: &byte) { pointer in
                var empty = berval(bv_len: 0, bv_val: pointer)
                return ldap_sasl_bind_s(ld, nil, "EXTERNAL", &empty, nil, nil, nil)
            }
        }
        guard rc == LDAP_SUCCESS else {
            var message: UnsafeMutablePointer<CChar>?
            ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message)
            let text = message.map { String(cString: $0) } ?? ""
            if let message { ldap_memfree(message) }
            ldap_unbind_ext(ld, nil, nil)
            throw LDAPError(code: LDAPResultCode(rawValue: rc), operation: "bind for synchronisation to \(configuration.url)",
                            diagnosticMessage: text)
        }
        return ld
    }
}

// C callbacks: find the session through ls_private.

private func syncContext(_ ls: UnsafeMutablePointer<ldap_sync_t>?) -> (ContentSyncSession, OpaquePointer)? {
    guard let ls, let context = ls.pointee.ls_private, let ld = ls.pointee.ls_ld else { return nil }
    return (Unmanaged<ContentSyncSession>.fromOpaque(context).takeUnretainedValue(), ld)
}

private func syncSearchEntry(_ ls: UnsafeMutablePointer<ldap_sync_t>?, _ message: OpaquePointer?,
                             _ uuid: UnsafeMutablePointer<berval>?, _ phase: ldap_sync_refresh_t) -> Int32 {
    guard let (session, ld) = syncContext(ls), let message else { return LDAP_OTHER }
    return session.handleEntry(ld, message, uuid.map { UnsafePointer($0) }, phase)
}

private func syncIntermediate(_ ls: UnsafeMutablePointer<ldap_sync_t>?, _ message: OpaquePointer?,
                              _ uuids: UnsafeMutablePointer<berval>?, _ phase: ldap_sync_refresh_t) -> Int32 {
    guard let (session, ld) = syncContext(ls), let message else { return LDAP_OTHER }
    return session.handleIntermediate(ld, message, uuids, phase)
}

private func syncSearchResult(_ ls: UnsafeMutablePointer<ldap_sync_t>?, _ message: OpaquePointer?, _ refreshDeletes: Int32) -> Int32 {
    guard let (session, ld) = syncContext(ls), let message else { return LDAP_OTHER }
    return session.handleResult(ld, message)
}
