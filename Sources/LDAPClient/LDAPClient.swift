import Foundation
import Logging
import Synchronization

/// An async LDAP client over libldap with a pool of connections.
///
/// Operations are sent with libldap's asynchronous calls and answered by a reader thread
/// per pooled ``LDAPConnection``; connecting and binding run on the connection's own
/// serial dispatch queue. Awaiting an LDAP operation therefore never blocks a thread of
/// Swift's cooperative pool. Requests beyond ``LDAPConfiguration/maximumConnections`` wait
/// in FIFO order for a free connection.
///
/// Connections that lose the server (slapd restarted) re-connect, re-bind and retry the
/// operation within ``LDAPConfiguration/reconnectWindow``. A write whose success answer
/// was lost with the connection may therefore report `entryAlreadyExists` on retry.
public final class LDAPClient: Sendable {
    public let configuration: LDAPConfiguration

    private struct State {
        var idle: [LDAPConnection] = []
        var created = 0
        var waiters: [CheckedContinuation<LDAPConnection, any Error>] = []
        var closed = false
    }
    private let state = Mutex(State())

    public init(configuration: LDAPConfiguration) {
        self.configuration = configuration
    }

    /// Convenience: a client for `url` with the given credentials.
    public convenience init(url: String, credentials: LDAPCredentials = .anonymous, maximumConnections: Int = 4) {
        self.init(configuration: LDAPConfiguration(url: url, credentials: credentials, maximumConnections: maximumConnections))
    }

    deinit {
        let waiters = state.withLock { state -> [CheckedContinuation<LDAPConnection, any Error>] in
            let waiters = state.waiters
            state.waiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume(throwing: LDAPClient.closedError) }
    }

    static let closedError = LDAPError(code: .localError, operation: "acquire connection",
                                       diagnosticMessage: "the LDAP client was closed")

    // MARK: - Pool

    private func acquire() async throws -> LDAPConnection {
        enum Decision { case use(LDAPConnection), create(Int), wait, closed }
        let decision = state.withLock { state -> Decision in
            if state.closed { return .closed }
            if let connection = state.idle.popLast() { return .use(connection) }
            if state.created < configuration.maximumConnections {
                state.created += 1
                return .create(state.created)
            }
            return .wait
        }
        switch decision {
        case .use(let connection): return connection
        case .create(let number): return LDAPConnection(configuration: configuration, number: number)
        case .closed: throw Self.closedError
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let immediate = state.withLock { state -> Result<LDAPConnection, any Error>? in
                    if state.closed { return .failure(Self.closedError) }
                    if let connection = state.idle.popLast() { return .success(connection) }
                    state.waiters.append(continuation)
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        }
    }

    private func release(_ connection: LDAPConnection) {
        let waiter = state.withLock { state -> CheckedContinuation<LDAPConnection, any Error>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            if state.closed {
                state.created -= 1
            } else {
                state.idle.append(connection)
            }
            return nil
        }
        if let waiter {
            waiter.resume(returning: connection)
        } else if state.withLock({ $0.closed }) {
            connection.queue.async { connection.close() }
        }
    }

    /// Runs `body` with a pooled connection held for its duration (the fast path of the
    /// operations below).
    func withPooledConnection<T>(_ body: (LDAPConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        defer { release(connection) }
        return try await LDAPOperationObserver.observe { try await body(connection) }
    }

    /// Runs `body` on a pooled connection's queue (off the cooperative pool). Several
    /// operations in one `body` use the same connection and bind.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (LDAPConnection) throws -> T) async throws -> T {
        let connection = try await acquire()
        defer { release(connection) }
        return try await withCheckedThrowingContinuation { continuation in
            connection.queue.async {
                continuation.resume(with: Result { try body(connection) })
            }
        }
    }

    /// Runs `body` with one pooled connection reserved for it and the task pinned to that
    /// connection's reader thread.
    ///
    /// Use it for loops of many operations (bulk reads, benchmarks, a replica's refresh):
    /// between two requests `body` runs on the thread that receives the answers, so each
    /// operation wakes one thread instead of two. `body` must not block that thread
    /// (no ``withConnection(_:)`` calls that wait on the same connection, no sleeping
    /// system calls); awaiting anything is fine. If the connection is lost and re-opened,
    /// `body` goes on without the affinity.
    public func withPinnedConnection<T>(_ body: (LDAPPinnedConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        defer { release(connection) }
        let executor = try await connection.readerExecutor()
        executor.pin()
        defer { executor.unpin() }
        return try await withTaskExecutorPreference(executor) {
            try await body(LDAPPinnedConnection(connection: connection))
        }
    }

    /// Closes idle connections and refuses new requests.
    public func close() async {
        let idle = state.withLock { state -> [LDAPConnection] in
            state.closed = true
            let idle = state.idle
            state.created -= idle.count
            state.idle = []
            return idle
        }
        for connection in idle {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                connection.queue.async {
                    connection.close()
                    continuation.resume()
                }
            }
        }
    }

    // MARK: - Operations

    /// Searches the directory. With `pageSize` the search uses the RFC 2696 paged results
    /// control and returns all pages; `sizeLimit` 0 means the server's limit.
    public func search(
        base: DistinguishedName,
        scope: LDAPSearchScope = .subtree,
        filter: LDAPFilter = .present("objectClass"),
        attributes: [String]? = nil,
        sizeLimit: Int = 0,
        pageSize: Int? = nil
    ) async throws -> [LDAPEntry] {
        try await withPooledConnection { connection in
            try await connection.searchAsync(base: base, scope: scope, filter: filter, attributes: attributes,
                                             sizeLimit: sizeLimit, pageSize: pageSize)
        }
    }

    /// Reads one entry by DN, or `nil` if it does not exist.
    public func read(_ dn: DistinguishedName, attributes: [String]? = nil) async throws -> LDAPEntry? {
        try await Self.entryOrNil { try await search(base: dn, scope: .base, attributes: attributes) }
    }

    /// The first entry of a base-scope `search`, or `nil` when the entry does not exist
    /// (`noSuchObject`): the one rule behind every `read`.
    static func entryOrNil(_ search: () async throws -> [LDAPEntry]) async throws -> LDAPEntry? {
        do {
            return try await search().first
        } catch let error as LDAPError where error.code == .noSuchObject {
            return nil
        }
    }

    /// Adds an entry; attribute values are UTF-8 strings.
    public func add(_ dn: DistinguishedName, attributes: [(String, [String])]) async throws {
        try await add(dn, binaryAttributes: attributes.map { ($0.0, $0.1.map { Data($0.utf8) }) })
    }

    /// Adds an entry with binary attribute values (e.g. `userCertificate;binary`).
    public func add(_ dn: DistinguishedName, binaryAttributes: [(String, [Data])]) async throws {
        let attributes = binaryAttributes.filter { !$0.1.isEmpty }
        try await withPooledConnection { try await $0.addAsync(dn, attributes: attributes) }
    }

    /// Applies modifications to one entry atomically.
    public func modify(_ dn: DistinguishedName, _ modifications: [LDAPModification]) async throws {
        try await withPooledConnection { try await $0.modifyAsync(dn, modifications) }
    }

    /// Deletes one (leaf) entry.
    public func delete(_ dn: DistinguishedName) async throws {
        try await withPooledConnection { try await $0.deleteAsync(dn) }
    }

    /// Deletes an entry and everything below it, deepest entries first.
    public func deleteSubtree(_ dn: DistinguishedName) async throws {
        try await withPooledConnection { connection in
            let entries = try await connection.searchAsync(base: dn, scope: .subtree, filter: .present("objectClass"),
                                                           attributes: ["1.1"], sizeLimit: 0, pageSize: 500)
            let ordered = entries.map(\.dn).sorted { $0.depth > $1.depth }
            for entry in ordered { try await connection.deleteAsync(entry) }
        }
    }

    /// LDAP compare: does `dn` hold `value` in `attribute`?
    public func compare(_ dn: DistinguishedName, attribute: String, value: String) async throws -> Bool {
        try await withPooledConnection { try await $0.compareAsync(dn, attribute: attribute, value: Data(value.utf8)) }
    }

    /// RFC 3062 password modify: sets `dn`'s password; slapd hashes it per its
    /// `olcPasswordHash`.
    public func setPassword(_ dn: DistinguishedName, to newPassword: String) async throws {
        try await withPooledConnection { try await $0.passwordModifyAsync(dn, newPassword: newPassword) }
    }

    /// RFC 4532 "Who am I?": the authorization identity of this client's binds.
    public func whoAmI() async throws -> String {
        try await withPooledConnection { try await $0.whoAmIAsync() }
    }

    /// Checks a DN/password pair with a fresh connection and a simple bind. Returns false
    /// for invalid credentials (which counts as a failure for slapd's password policy);
    /// throws for every other error.
    public func checkPassword(dn: DistinguishedName, password: String) async throws -> Bool {
        guard !password.isEmpty else { return false }  // an empty password would be an unauthenticated bind
        var configuration = self.configuration
        configuration.credentials = .simple(dn: dn, password: password)
        configuration.reconnectWindow = 0
        let probe = LDAPConnection(configuration: configuration, number: 0)
        return try await withCheckedThrowingContinuation { continuation in
            probe.queue.async {
                do {
                    _ = try probe.perform { _ in () }
                    probe.close()
                    continuation.resume(returning: true)
                } catch let error as LDAPError where error.code == .invalidCredentials {
                    continuation.resume(returning: false)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}

extension DistinguishedName {
    /// The number of RDNs (unescaped commas + 1).
    var depth: Int {
        var escaped = false
        var count = 1
        for c in string.utf8 {
            if escaped { escaped = false; continue }
            if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: ",") { count += 1 }
        }
        return count
    }
}
