import Foundation
@testable import LDAPClient
import ManagedSlapd
import Testing

/// The Swift LDAP client against a real slapd.
@Suite("LDAP client against slapd")
struct LDAPClientIntegrationTests {
    @Test("SASL EXTERNAL over ldapi:// acts as Tollgate's service account")
    func externalBindMapsToServiceAccount() async throws {
        let slapd = try await SharedSlapd.get()
        let client = slapd.client(maximumConnections: 1)
        #expect(try await client.whoAmI() == "dn:cn=tollgate,ou=services,dc=tollgate")
        await client.close()
    }

    @Test("simple bind with the service password over ldap://, and a wrong password is refused")
    func simpleBind() async throws {
        let slapd = try await SharedSlapd.get()
        let password = try String(contentsOf: slapd.layout.servicePasswordFile, encoding: .utf8).trimmingCharacters(in: .newlines)
        let dn = DistinguishedName("cn=tollgate,ou=services,dc=tollgate")
        let client = LDAPClient(url: slapd.ldapURL, credentials: .simple(dn: dn, password: password))
        #expect(try await client.whoAmI() == "dn:cn=tollgate,ou=services,dc=tollgate")
        await client.close()
        let wrong = LDAPClient(url: slapd.ldapURL, credentials: .simple(dn: dn, password: password + "x"))
        let error = await #expect(throws: LDAPError.self) { try await wrong.whoAmI() }
        #expect(error?.code == .invalidCredentials)
        #expect(try await slapd.client().checkPassword(dn: dn, password: password))
        #expect(try await !slapd.client().checkPassword(dn: dn, password: ""))
    }

    @Test("add, search, modify, compare and delete round-trip")
    func crudRoundTrip() async throws {
        let slapd = try await SharedSlapd.get()
        let client = slapd.client()
        let dn = DistinguishedName("ou=history,dc=tollgate").child("tgEventId", "crud-\(UUID().uuidString)")
        try await client.add(dn, attributes: [("objectClass", ["tgHistoryEvent"]), ("tgEventId", [dn.firstValue ?? ""]),
                                              ("tgEventType", ["test.crud"]), ("tgEventTime", ["20261125120000Z"]),
                                              ("tgActor", ["tester"])])
        var entry = try #require(try await client.read(dn))
        #expect(entry["tgEventType"] == "test.crud")
        #expect(entry["TGEVENTTYPE"] == "test.crud", "attribute names are case-insensitive")
        try await client.modify(dn, [.replace("tgEventType", ["test.modified"]), .add("tgEventData", ["{\"a\":1}"])])
        entry = try #require(try await client.read(dn))
        #expect(entry["tgEventType"] == "test.modified")
        #expect(entry["tgEventData"] == "{\"a\":1}")
        #expect(try await client.compare(dn, attribute: "tgActor", value: "tester"))
        #expect(try await !client.compare(dn, attribute: "tgActor", value: "someone else"))
        try await client.modify(dn, [.delete("tgEventData")])
        #expect(try await client.read(dn)?["tgEventData"] == nil)
        try await client.delete(dn)
        #expect(try await client.read(dn) == nil)
        let error = await #expect(throws: LDAPError.self) { try await client.delete(dn) }
        #expect(error?.code == .noSuchObject)
        await client.close()
    }

    @Test("paged search returns every entry across pages")
    func pagedSearch() async throws {
        let slapd = try await SharedSlapd.get()
        let client = slapd.client()
        let base = DistinguishedName("ou=history,dc=tollgate")
        let tag = "paged-\(UUID().uuidString.prefix(8))"
        for i in 0..<130 {
            try await client.add(base.child("tgEventId", "\(tag)-\(i)"), attributes: [
                ("objectClass", ["tgHistoryEvent"]), ("tgEventId", ["\(tag)-\(i)"]), ("tgEventType", [tag]),
                ("tgEventTime", ["20261125120000Z"])])
        }
        let entries = try await client.search(base: base, scope: .oneLevel, filter: .equal("tgEventType", tag), pageSize: 25)
        #expect(entries.count == 130)
        #expect(Set(entries.map(\.dn)).count == 130)
        try await client.deleteSubtree(base.child("tgEventId", "\(tag)-0"))
        #expect(try await client.search(base: base, scope: .oneLevel, filter: .equal("tgEventType", tag), pageSize: 7).count == 129)
        await client.close()
    }

    @Test("an entry violating the schema is rejected with slapd's own message")
    func schemaViolationSurfacesDiagnostic() async throws {
        let slapd = try await SharedSlapd.get()
        let client = slapd.client()
        let parent = DistinguishedName("ou=converters,tgOrgNumber=1001,ou=subscribers,dc=tollgate")
        // tgConverter requires tgState.
        let missing = await #expect(throws: LDAPError.self) {
            try await client.add(parent.child("cn", "no-state"), attributes: [
                ("objectClass", ["tgConverter"]), ("cn", ["no-state"]), ("tgOrgNumber", ["1001"])])
        }
        #expect(missing?.code == .objectClassViolation)
        #expect(missing?.diagnosticMessage.contains("tgState") == true, "diagnostic: \(missing?.diagnosticMessage ?? "")")
        // tgOrgNumber is a numeric string.
        let syntax = await #expect(throws: LDAPError.self) {
            try await client.add(parent.child("cn", "bad-org"), attributes: [
                ("objectClass", ["tgConverter"]), ("cn", ["bad-org"]), ("tgOrgNumber", ["10x1"]), ("tgState", ["registered"])])
        }
        #expect(syntax?.code == .invalidAttributeSyntax)
        #expect(syntax?.diagnosticMessage.contains("tgOrgNumber") == true, "diagnostic: \(syntax?.diagnosticMessage ?? "")")
        #expect(syntax?.description.contains("schema") == true, "the error says what to do")
        // An undefined attribute.
        let undefined = await #expect(throws: LDAPError.self) {
            try await client.modify(parent, [.add("tgNoSuchAttribute", ["x"])])
        }
        #expect(undefined?.code == .undefinedAttributeType)
        #expect(try await client.read(parent.child("cn", "no-state")) == nil, "nothing was written")
        await client.close()
    }

    @Test("the client survives a slapd restart mid-run")
    func survivesRestart() async throws {
        let slapd = try await startSlapd("restart", demo: false)
        let client = LDAPClient(configuration: LDAPConfiguration(url: slapd.ldapURL, credentials: .simple(
            dn: "cn=tollgate,ou=services,dc=tollgate",
            password: try String(contentsOf: slapd.layout.servicePasswordFile, encoding: .utf8).trimmingCharacters(in: .newlines)),
            maximumConnections: 2, reconnectWindow: 15))
        #expect(try await client.read("dc=tollgate") != nil)
        // Stop and restart: the pooled, bound connection is dead afterwards.
        try await slapd.stop()
        try await slapd.start()
        #expect(try await client.read("dc=tollgate") != nil)
        // Stop, then query while it is down and bring it back shortly after: the request
        // waits within the reconnect window and succeeds.
        try await slapd.stop()
        async let restarted: Void = {
            try await Task.sleep(for: .milliseconds(700))
            try await slapd.start()
        }()
        let entry = try await client.read("ou=subscribers,dc=tollgate")
        try await restarted
        #expect(entry != nil)
        // With slapd down for longer than the window, the error says what to check.
        try await slapd.stop()
        let short = LDAPClient(configuration: LDAPConfiguration(url: slapd.ldapURL, reconnectWindow: 0.3))
        let error = await #expect(throws: LDAPError.self) { try await short.read("dc=tollgate") }
        #expect(error?.code == .serverDown || error?.code == .connectError)
        #expect(error?.description.contains("slapd running") == true)
        await client.close()
    }
}

/// ``LDAPClient/withPinnedConnection(_:)``: one connection, run on its reader thread.
@Suite("LDAP client: pinned connections")
struct LDAPPinnedConnectionTests {
    /// The calling thread and whether it is a session's reader thread (a synchronous
    /// function: `Thread.current` is not available in async code).
    private static func thread() -> (id: pthread_t, reader: Bool) {
        (pthread_self(), LDAPSession.isReaderThread)
    }

    @Test("a pinned body's operations use one connection and resume on its reader thread")
    func pinnedRunsOnReaderThread() async throws {
        let slapd = try await SharedSlapd.get()
        let client = slapd.client()
        let dn = DistinguishedName("ou=history,dc=tollgate").child("tgEventId", "pinned-\(UUID().uuidString)")
        let threads = try await client.withPinnedConnection { connection -> [(id: pthread_t, reader: Bool)] in
            var names: [(id: pthread_t, reader: Bool)] = []
            try await connection.add(dn, attributes: [("objectClass", ["tgHistoryEvent"]), ("tgEventId", [dn.firstValue ?? ""]),
                                                      ("tgEventType", ["test.pinned"]), ("tgEventTime", ["20261125120000Z"])])
            names.append(Self.thread())
            for _ in 0..<50 {
                let found = try await connection.search(base: "ou=history,dc=tollgate", scope: .oneLevel,
                                                        filter: .equal("tgEventId", dn.firstValue ?? ""))
                #expect(found.count == 1)
                names.append(Self.thread())
            }
            try await connection.modify(dn, [.replace("tgEventType", ["test.pinned2"])])
            #expect(try await connection.read(dn)?["tgEventType"] == "test.pinned2")
            #expect(try await connection.compare(dn, attribute: "tgEventType", value: "test.pinned2"))
            try await connection.delete(dn)
            #expect(try await connection.read(dn) == nil)
            names.append(Self.thread())
            return names
        }
        #expect(Set(threads.map(\.id)).count == 1, "one thread")
        let onReader = threads.filter { $0.reader }.count
        #expect(onReader == threads.count, "the connection's reader thread")
        // After the body the task is back on the global executor and the connection is
        // back in the pool.
        #expect(!Self.thread().reader)
        #expect(try await client.read("dc=tollgate") != nil)
        await client.close()
    }

    @Test("concurrent pinned bodies on a small pool and a slapd restart underneath")
    func pinnedSurvivesRestart() async throws {
        let slapd = try await startSlapd("pinned-restart", demo: false)
        let client = LDAPClient(configuration: LDAPConfiguration(url: slapd.ldapURL, credentials: .simple(
            dn: "cn=tollgate,ou=services,dc=tollgate",
            password: try String(contentsOf: slapd.layout.servicePasswordFile, encoding: .utf8).trimmingCharacters(in: .newlines)),
            maximumConnections: 2, reconnectWindow: 15))
        // Four bodies on two connections: two wait for the pool.
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await client.withPinnedConnection { connection in
                        var found = 0
                        for _ in 0..<20 { found += try await connection.search(base: "dc=tollgate", scope: .base).count }
                        return found
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts == [20, 20, 20, 20])
        // The connection dies under a pinned body; the body goes on (re-connected, without
        // affinity) and its next operations succeed.
        let afterRestart = try await client.withPinnedConnection { connection -> Int in
            #expect(try await connection.read("dc=tollgate") != nil)
            try await slapd.stop()
            try await slapd.start()
            var found = 0
            for _ in 0..<5 { found += try await connection.search(base: "dc=tollgate", scope: .base).count }
            return found
        }
        #expect(afterRestart == 5)
        await client.close()
    }

    @Test("a request the server never answers fails with a timeout after about the operation timeout", .timeLimit(.minutes(1)))
    func operationTimeout() async throws {
        // A TCP listener that accepts connections (the kernel completes the handshake)
        // and never answers: every request must end with the client's own timeout.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(listener, socketAddress, length) == 0 && listen(listener, 16) == 0
                    && getsockname(listener, socketAddress, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let client = LDAPClient(configuration: LDAPConfiguration(
            url: "ldap://127.0.0.1:\(port)", maximumConnections: 2, operationTimeout: 0.5, reconnectWindow: 0))
        for pinned in [false, true] {
            let started = ContinuousClock.now
            let error = await #expect(throws: LDAPError.self) {
                if pinned {
                    _ = try await client.withPinnedConnection { try await $0.read("dc=tollgate") }
                } else {
                    _ = try await client.read("dc=tollgate")
                }
            }
            let waited = ContinuousClock.now - started
            #expect(error?.code == .timeout, "pinned: \(pinned)")
            // The upper bound is loose: under a loaded suite, opening the connection (on a
            // dispatch queue) can itself take seconds; without deadlines this would hang.
            #expect(waited >= .milliseconds(450) && waited < .seconds(30), "pinned: \(pinned), waited \(waited)")
        }
        await client.close()
    }
}

