import Foundation
@testable import LDAPClient
import Synchronization
import Testing

/// The process-wide operation observer must stay the same closure however often it is
/// read: it once grew a reabstraction thunk per read (per LDAP operation), so a server's
/// CPU per operation grew without bound. Measured structurally: the call depth at which
/// the callback runs must not change between the first and the thousandth operation.
@Suite("LDAP operation observer", .serialized)
struct OperationObserverTests {
    @Test("every operation is reported once, and the callback's call depth does not grow")
    func stableCallback() async throws {
        let depths = Mutex<[Int]>([])
        let failures = Mutex(0)
        LDAPOperationObserver.install { _, failure in
            depths.withLock { $0.append(Thread.callStackSymbols.count) }
            if failure != nil { failures.withLock { $0 += 1 } }
        }
        defer { LDAPOperationObserver.install(nil) }
        for _ in 0..<1000 { _ = try await LDAPOperationObserver.observe { 1 } }
        await #expect(throws: LDAPError.self) {
            try await LDAPOperationObserver.observe { () async throws -> Int in throw LDAPError(code: .busy, operation: "test") }
        }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 1001)
        #expect(failures.withLock { $0 } == 1)
        #expect(Set(seen.prefix(1000)).count == 1, "call depth changed: first \(seen.first ?? 0), last \(seen.dropLast().last ?? 0)")
    }
}
