import CLDAP
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the server answered to one request, collected by a session's reader thread.
///
/// A transport failure (connection lost, local libldap error, client-side timeout) is
/// reported the same way, with libldap's negative result code.
struct LDAPResponse: Sendable {
    var code: Int32
    var diagnosticMessage = ""
    var matchedDN = ""
    /// Search entries, in the order the server sent them.
    var entries: [LDAPEntry] = []
    /// The RFC 2696 cookie of a paged search (empty on the last page); `nil` when the
    /// server sent no paged-results control.
    var pageCookie: [UInt8]?
    /// The value of an extended response (e.g. the "Who am I?" authzid).
    var extendedValue: Data?

    init(code: Int32, diagnosticMessage: String = "", matchedDN: String = "") {
        self.code = code
        self.diagnosticMessage = diagnosticMessage
        self.matchedDN = matchedDN
    }

    /// The error for a failed response.
    func error(_ operation: String) -> LDAPError {
        LDAPError(code: LDAPResultCode(rawValue: code), operation: operation,
                  diagnosticMessage: diagnosticMessage, matchedDN: matchedDN)
    }
}

/// A thread (not a task) waiting for a response: used by the blocking operations that
/// ``LDAPClient/withConnection(_:)`` bodies run.
final class BlockingWaiter: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    // Written once before `signal()`, read after `wait()`: the semaphore orders the two.
    private var response: LDAPResponse?

    func deliver(_ response: LDAPResponse) {
        self.response = response
        semaphore.signal()
    }

    func wait() -> LDAPResponse {
        semaphore.wait()
        return response ?? LDAPResponse(code: LDAPSession.localError)
    }
}

/// Who gets a request's response.
enum ResponseWaiter: Sendable {
    case task(UnsafeContinuation<LDAPResponse, Never>)
    case thread(BlockingWaiter)

    func resume(_ response: LDAPResponse) {
        switch self {
        case .task(let continuation): continuation.resume(returning: response)
        case .thread(let waiter): waiter.deliver(response)
        }
    }
}

/// One open, bound libldap session (`LDAP *`) with asynchronous requests.
///
/// Requests are sent with libldap's asynchronous calls (`ldap_search_ext`, …) from the
/// caller's thread; a dedicated reader thread (a plain thread, never Swift's cooperative
/// pool) waits in `poll(2)` on the session's socket, takes the answers with non-blocking
/// `ldap_result` calls, turns them into ``LDAPResponse`` values and resumes the waiter
/// registered for the message id. Several requests may be in flight at once.
///
/// Every libldap call on the handle happens with `state` locked, so a request is never
/// sent on a handle whose connection libldap has already dropped (libldap would silently
/// open a new, unbound connection). The reader never holds the lock while it sleeps.
/// The handle is unbound exactly once: by ``close()`` when no reader runs, else by the
/// reader as it exits.
final class LDAPSession: @unchecked Sendable {
    static let serverDown: Int32 = -1        // LDAP_SERVER_DOWN
    static let localError: Int32 = -2        // LDAP_LOCAL_ERROR
    static let timeout: Int32 = -5           // LDAP_TIMEOUT
    static let connectError: Int32 = -11     // LDAP_CONNECT_ERROR

    private static let searchEntry: Int32 = 0x64
    private static let searchReference: Int32 = 0x73
    private static let intermediate: Int32 = 0x79
    private static let extendedResponse: Int32 = 0x78
    private static let pagedResultsOID = "1.2.840.113556.1.4.319"

    private struct PendingRequest {
        var waiter: ResponseWaiter
        var deadline: UInt64
        var wantsPageControl: Bool
        var entries: [LDAPEntry] = []
    }

    private struct State {
        var pending: [Int32: PendingRequest] = [:]
        /// No more requests may be sent (the connection is lost or closing).
        var dead = false
        var closed = false
        var readerRunning = false
        /// Registered with the ``DeadlineSweeper``.
        var watched = false
        /// The reader's wake-up pipe (read end, write end).
        var wakeRead: Int32 = -1
        var wakeWrite: Int32 = -1
    }

    /// The handle; only used with `state` locked.
    private let ld: OpaquePointer
    private let socket: Int32
    private let operationTimeout: UInt64
    private let label: String
    private let state = Mutex(State())

    /// Runs the jobs of tasks pinned to this session on its reader thread.
    let executor = ReaderThreadExecutor()

    /// Wraps a bound handle. `operationTimeout` (seconds) bounds the wait for each answer.
    init(handle: OpaquePointer, operationTimeout: Double, label: String) {
        self.ld = handle
        var fd: Int32 = -1
        ldap_get_option(handle, LDAP_OPT_DESC, &fd)
        self.socket = fd
        self.operationTimeout = UInt64(max(0.001, min(operationTimeout, 1e7)) * 1e9)
        self.label = label
    }

    /// True until the connection was lost or closed.
    var isAlive: Bool { state.withLock { !$0.dead } }

    private static let readerThreadKey = "tollgate.ldap.reader"
    /// Longest wait inside `ldap_result` on a pinned session before the reader looks at
    /// its wake-up pipe again.
    private static let pinnedWait = timeval(tv_sec: 0, tv_usec: 5_000)

    /// True on a session's reader thread (for tests and assertions).
    static var isReaderThread: Bool {
        Thread.current.threadDictionary[readerThreadKey] as? Bool ?? false
    }

    /// Starts the reader thread if it does not run yet, so that ``executor`` accepts jobs.
    /// Returns false when the session is dead or the thread cannot start.
    func startReaderIfNeeded() -> Bool {
        state.withLock { state in
            guard !state.dead else { return false }
            return state.readerRunning || startReader(&state)
        }
    }

    // MARK: - Requests

    /// Sends a request with `send` (which returns libldap's result code and stores the
    /// message id) and arranges for `waiter` to get the response. Errors of the send itself
    /// are delivered to `waiter` at once.
    func start(
        wantsPageControl: Bool = false, waiter: ResponseWaiter,
        _ send: (OpaquePointer, UnsafeMutablePointer<Int32>) -> Int32
    ) {
        var failed: [(ResponseWaiter, LDAPResponse)] = []
        state.withLock { state in
            guard !state.dead else {
                failed.append((waiter, LDAPResponse(code: Self.serverDown, diagnosticMessage: "connection closed")))
                return
            }
            var msgid: Int32 = -1
            let rc = send(ld, &msgid)
            guard rc == LDAP_SUCCESS else {
                failed.append((waiter, Self.errorResponse(ld, rc)))
                if rc == Self.serverDown || rc == Self.connectError {
                    markDead(&state, code: rc, into: &failed)
                }
                return
            }
            guard state.readerRunning || startReader(&state) else {
                ldap_abandon_ext(ld, msgid, nil, nil)
                failed.append((waiter, LDAPResponse(code: Self.localError, diagnosticMessage: "cannot start the reader thread")))
                return
            }
            let deadline = DispatchTime.now().uptimeNanoseconds &+ operationTimeout
            state.pending[msgid] = PendingRequest(waiter: waiter, deadline: deadline, wantsPageControl: wantsPageControl)
            if !state.watched {
                state.watched = true
                DeadlineSweeper.shared.watch(self)
            }
        }
        for (waiter, response) in failed { waiter.resume(response) }
    }

    /// Fails pending requests, stops the reader and unbinds. Idempotent.
    func close() {
        var failed: [(ResponseWaiter, LDAPResponse)] = []
        state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            markDead(&state, code: Self.serverDown, message: "connection closed", into: &failed)
            if !state.readerRunning { teardown(&state) }
        }
        for (waiter, response) in failed { waiter.resume(response) }
    }

    /// Marks the session dead, moves every pending request to `failed` and wakes the reader.
    private func markDead(_ state: inout State, code: Int32, message: String? = nil,
                          into failed: inout [(ResponseWaiter, LDAPResponse)]) {
        if !state.dead {
            state.dead = true
            let response = message.map { LDAPResponse(code: code, diagnosticMessage: $0) } ?? Self.errorResponse(ld, code)
            for (_, request) in state.pending { failed.append((request.waiter, response)) }
            state.pending.removeAll()
        }
        if state.readerRunning, state.wakeWrite >= 0 {
            var byte: UInt8 = 1
            _ = write(state.wakeWrite, &byte, 1)
        }
    }

    private func teardown(_ state: inout State) {
        ldap_unbind_ext(ld, nil, nil)
        if state.wakeRead >= 0 { closeDescriptor(state.wakeRead) }
        if state.wakeWrite >= 0 { closeDescriptor(state.wakeWrite) }
        state.wakeRead = -1
        state.wakeWrite = -1
    }

    // MARK: - Reader thread

    private func startReader(_ state: inout State) -> Bool {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return false }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        state.wakeRead = fds[0]
        state.wakeWrite = fds[1]
        state.readerRunning = true
        executor.attach(wakeFD: fds[1])
        let thread = Thread { [self] in readLoop() }
        thread.name = label
        thread.start()
        return true
    }

    private func readLoop() {
        Thread.current.threadDictionary[Self.readerThreadKey] = true
        var finished: [(ResponseWaiter, LDAPResponse)] = []
        finished.reserveCapacity(4)
        let wakeFD = state.withLock { $0.wakeRead }
        var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        var drain = [UInt8](repeating: 0, count: 64)
        // Sleeps without a timeout: arming a timer for every poll(2) costs more than the
        // rest of the loop on virtual machines. Overdue requests are expired by the
        // ``DeadlineSweeper``.
        var pollNow = false
        while true {
            // A pinned session's only sender is the task now suspended on its answer: wait
            // for that answer inside libldap (one poll(2) per message, as a synchronous C
            // client does) instead of poll(2) here and another inside ldap_result. Other
            // wake-ups (jobs from elsewhere, the deadline sweeper, close) wait at most
            // `pinnedWait`.
            if !pollNow, executor.isPinned, !executor.hasJobs {
                var waited = false
                var more = false
                let exit = state.withLock { state -> Bool in
                    if state.dead { return true }
                    guard !state.pending.isEmpty else { return false }
                    waited = true
                    more = readAvailable(&state, into: &finished, firstWait: Self.pinnedWait)
                    return state.dead
                }
                if waited || exit {
                    for (waiter, response) in finished { waiter.resume(response) }
                    finished.removeAll(keepingCapacity: true)
                    if exit { break }
                    let jobsLeft = executor.runJobs()
                    pollNow = more || jobsLeft
                    continue
                }
            }
            fds[0].revents = 0
            fds[1].revents = 0
            let sleeping = !pollNow && executor.prepareToSleep()
            let n = poll(&fds, 2, sleeping ? -1 : 0)
            if sleeping { executor.awake() }
            if n < 0 && errno == EINTR { continue }
            if fds[1].revents & Int16(POLLIN) != 0 {
                while read(wakeFD, &drain, drain.count) > 0 {}
            }
            var more = false
            let exit = state.withLock { state -> Bool in
                if state.dead { return true }
                more = readAvailable(&state, into: &finished)
                return state.dead
            }
            for (waiter, response) in finished { waiter.resume(response) }
            finished.removeAll(keepingCapacity: true)
            if exit { break }
            // Tasks pinned to this session run here and send their next requests.
            let jobsLeft = executor.runJobs()
            pollNow = more || jobsLeft
        }
        executor.detach()
        state.withLock { state in
            state.readerRunning = false
            if state.closed { teardown(&state) }
        }
    }

    /// Fails the requests whose answer is overdue (called by the ``DeadlineSweeper``).
    /// Returns false when the session is dead and need not be watched any more.
    func expireOverdue() -> Bool {
        var finished: [(ResponseWaiter, LDAPResponse)] = []
        let alive = state.withLock { state -> Bool in
            guard !state.dead else { return false }
            expireRequests(&state, into: &finished)
            return true
        }
        for (waiter, response) in finished { waiter.resume(response) }
        return alive
    }

    /// Takes the answers that have arrived. After each message the socket goes back to
    /// `poll(2)` (which returns at once if more data is waiting) rather than into another
    /// `ldap_result` call, which would cost a second `poll` of its own; only data buffered
    /// above the socket (TLS), which `poll` cannot see, is drained here.
    /// Returns true when buffered data is left for the next round (poll without sleeping).
    private func readAvailable(_ state: inout State, into finished: inout [(ResponseWaiter, LDAPResponse)],
                               firstWait: timeval = timeval(tv_sec: 0, tv_usec: 0)) -> Bool {
        var drained = 0
        var wait = firstWait
        while true {
            var message: OpaquePointer?
            let rc = ldap_result(ld, -1 /* LDAP_RES_ANY */, 0 /* LDAP_MSG_ONE */, &wait, &message)
            wait = timeval(tv_sec: 0, tv_usec: 0)
            if rc > 0, let message {
                handle(message, &state, into: &finished)
                ldap_msgfree(message)
                drained += 1
                guard dataBuffered() else { return false }
                if drained < 64 { continue }
                return true
            }
            if let message { ldap_msgfree(message) }
            if rc == 0 { return false }
            var code: Int32 = 0
            ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code)
            markDead(&state, code: code == LDAP_SUCCESS || code == Self.timeout ? Self.serverDown : code, into: &finished)
            return false
        }
    }

    private func dataBuffered() -> Bool {
        var sockbuf: OpaquePointer?
        guard ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sockbuf) == LDAP_OPT_SUCCESS, let sockbuf else { return false }
        return ber_sockbuf_ctrl(sockbuf, LBER_SB_OPT_DATA_READY, nil) != 0
    }

    private func handle(_ message: OpaquePointer, _ state: inout State,
                        into finished: inout [(ResponseWaiter, LDAPResponse)]) {
        let id = ldap_msgid(message)
        let type = ldap_msgtype(message)
        switch type {
        case Self.searchEntry:
            guard state.pending[id] != nil, let entry = parseEntry(message) else { return }
            state.pending[id]?.entries.append(entry)
        case Self.searchReference, Self.intermediate:
            return  // referrals are not chased; intermediate responses are not used
        default:
            guard let request = state.pending.removeValue(forKey: id) else { return }
            var response = parseResult(message, type: type, wantsPageControl: request.wantsPageControl)
            response.entries = request.entries
            finished.append((request.waiter, response))
        }
    }

    private func expireRequests(_ state: inout State, into finished: inout [(ResponseWaiter, LDAPResponse)]) {
        guard !state.pending.isEmpty else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        var expired: [Int32] = []
        for (id, request) in state.pending where request.deadline <= now { expired.append(id) }
        for id in expired {
            guard let request = state.pending.removeValue(forKey: id) else { continue }
            ldap_abandon_ext(ld, id, nil, nil)
            finished.append((request.waiter, LDAPResponse(code: Self.timeout, diagnosticMessage: "no answer in time")))
        }
    }

    // MARK: - Decoding (reader thread, state locked)

    /// One search entry: DN and values are read in place from the message's BER buffer
    /// (`ldap_get_dn_ber` / `ldap_get_attribute_ber`); attribute names are lower-cased
    /// as ASCII bytes.
    private func parseEntry(_ message: OpaquePointer) -> LDAPEntry? {
        var ber: OpaquePointer?
        var dnValue = berval(bv_len: 0, bv_val: nil)
        guard ldap_get_dn_ber(ld, message, &ber, &dnValue) == LDAP_SUCCESS, let ber else {
            if let ber { ber_free(ber, 0) }
            return nil
        }
        defer { ber_free(ber, 0) }
        let dn = Self.string(dnValue)
        var attributes: [String: [Data]] = [:]
        var name = berval(bv_len: 0, bv_val: nil)
        var values: UnsafeMutablePointer<berval>?
        while ldap_get_attribute_ber(ld, message, ber, &name, &values) == LDAP_SUCCESS, let nameBytes = name.bv_val {
            var collected: [Data] = []
            if let values {
                var index = 0
                while let bytes = values[index].bv_val {
                    collected.append(Data(bytes: bytes, count: Int(values[index].bv_len)))
                    index += 1
                }
                ber_memfree(values)
            }
            values = nil
            let key = LDAPEntry.lowercasedKey(UnsafeRawBufferPointer(start: nameBytes, count: Int(name.bv_len)))
            if attributes[key] == nil {
                attributes[key] = collected
            } else {
                attributes[key]?.append(contentsOf: collected)
            }
        }
        if let values { ber_memfree(values) }
        return LDAPEntry(dn: DistinguishedName(dn), lowercasedAttributes: attributes)
    }

    private func parseResult(_ message: OpaquePointer, type: Int32, wantsPageControl: Bool) -> LDAPResponse {
        var code: Int32 = 0
        var matched: UnsafeMutablePointer<CChar>?
        var diagnostic: UnsafeMutablePointer<CChar>?
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
        let parsed = ldap_parse_result(ld, message, &code, &matched, &diagnostic, nil, &controls, 0)
        defer {
            if let matched { ldap_memfree(matched) }
            if let diagnostic { ldap_memfree(diagnostic) }
            if let controls { ldap_controls_free(controls) }
        }
        guard parsed == LDAP_SUCCESS else { return Self.errorResponse(ld, parsed) }
        var response = LDAPResponse(code: code)
        if let diagnostic, diagnostic.pointee != 0 { response.diagnosticMessage = String(cString: diagnostic) }
        if let matched, matched.pointee != 0 { response.matchedDN = String(cString: matched) }
        if type == Self.extendedResponse {
            var data: UnsafeMutablePointer<berval>?
            if ldap_parse_extended_result(ld, message, nil, &data, 0) == LDAP_SUCCESS, let data {
                if let bytes = data.pointee.bv_val {
                    response.extendedValue = Data(bytes: bytes, count: Int(data.pointee.bv_len))
                }
                ber_bvfree(data)
            }
        }
        if wantsPageControl, code == LDAP_SUCCESS,
           let control = ldap_control_find(Self.pagedResultsOID, controls, nil) {
            var count: Int32 = 0
            var cookie = berval(bv_len: 0, bv_val: nil)
            let rc = ldap_parse_pageresponse_control(ld, control, &count, &cookie)
            if rc != LDAP_SUCCESS { return Self.errorResponse(ld, rc) }
            if let bytes = cookie.bv_val {
                response.pageCookie = Array(UnsafeRawBufferPointer(start: bytes, count: Int(cookie.bv_len)))
                ber_memfree(bytes)
            } else {
                response.pageCookie = []
            }
        }
        return response
    }

    /// A response for libldap error `rc`, with the diagnostic message and matched DN
    /// libldap kept on the handle.
    static func errorResponse(_ ld: OpaquePointer, _ rc: Int32) -> LDAPResponse {
        var message: UnsafeMutablePointer<CChar>?
        var matched: UnsafeMutablePointer<CChar>?
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message)
        ldap_get_option(ld, LDAP_OPT_MATCHED_DN, &matched)
        defer {
            if let message { ldap_memfree(message) }
            if let matched { ldap_memfree(matched) }
        }
        return LDAPResponse(code: rc, diagnosticMessage: message.map { String(cString: $0) } ?? "",
                            matchedDN: matched.map { String(cString: $0) } ?? "")
    }

    static func string(_ value: berval) -> String {
        guard let bytes = value.bv_val else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: Int(value.bv_len)), as: UTF8.self)
    }
}

/// `close(2)`, out of reach of the `close()` methods' names.
private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
