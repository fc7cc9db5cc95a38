import CLDAP
import Foundation

/// One write of an ``LDAPClient/transaction(_:)``.
public enum LDAPWrite: Sendable {
    /// Adds an entry (binary attribute values; empty value lists are left out).
    case add(DistinguishedName, [(String, [Data])])
    /// Applies modifications to one entry.
    case modify(DistinguishedName, [LDAPModification])
    /// Deletes one (leaf) entry.
    case delete(DistinguishedName)

    /// The entry written.
    public var dn: DistinguishedName {
        switch self {
        case .add(let dn, _), .modify(let dn, _), .delete(let dn): return dn
        }
    }

    /// `add <dn>`, `modify <dn>` or `delete <dn>`.
    public var operationName: String {
        switch self {
        case .add(let dn, _): return "add \(dn)"
        case .modify(let dn, _): return "modify \(dn)"
        case .delete(let dn): return "delete \(dn)"
        }
    }
}

extension LDAPClient {
    /// Applies one write (the same as ``add(_:binaryAttributes:)``, ``modify(_:_:)`` or
    /// ``delete(_:)``).
    public func apply(_ write: LDAPWrite) async throws {
        switch write {
        case .add(let dn, let attributes): try await add(dn, binaryAttributes: attributes)
        case .modify(let dn, let modifications): try await modify(dn, modifications)
        case .delete(let dn): try await delete(dn)
        }
    }

    /// Applies `writes` atomically in one RFC 5805 LDAP transaction: all or none. With
    /// back-mdb the whole group becomes one database transaction, i.e. one sync to disk
    /// instead of one per write, which is what makes batching worth it.
    ///
    /// The transaction holds a pooled connection until it ends. If the commit fails (e.g.
    /// one entry does not exist), nothing was written and the error names the first
    /// failing write as slapd reports it; callers that want the other writes applied retry
    /// them one by one. A lost connection retries the whole transaction on a new one
    /// (within the reconnect window).
    ///
    /// `beforeCommit` runs after slapd accepted every write and before the commit is
    /// sent (tests use it to kill a process with a transaction open).
    public func transaction(_ writes: [LDAPWrite], beforeCommit: (@Sendable () async -> Void)? = nil) async throws {
        guard !writes.isEmpty else { return }
        try await withPooledConnection { try await $0.transactionAsync(writes, beforeCommit: beforeCommit) }
    }
}

extension LDAPConnection {
    /// RFC 5805 Transaction Specification control.
    static let transactionSpecificationOID = "1.3.6.1.1.21.2"

    func transactionAsync(_ writes: [LDAPWrite], beforeCommit: (@Sendable () async -> Void)? = nil) async throws {
        try await performAsync { session in
            let start = await roundTrip(session) { ld, msgid in ldap_txn_start(ld, nil, nil, msgid) }
            try Self.check(start) { "start transaction" }
            // slapd allows one transaction per connection and answers with an empty
            // identifier; the (empty) value is sent back as it came.
            let txnID = start.extendedValue ?? Data()
            var failure: LDAPError?
            for write in writes {
                let response = await Self.withTransactionControl(txnID) { controls in
                    await roundTrip(session) { ld, msgid in Self.send(write, ld, msgid, controls) }
                }
                if response.code != LDAP_SUCCESS {
                    failure = response.error(write.operationName + " (in a transaction)")
                    break
                }
            }
            if failure == nil, let beforeCommit { await beforeCommit() }
            // slapd 2.5.13 may still be sending the last write's answer; let it finish
            // before the end frees that write (see LDAPConfiguration.transactionSettleDelay).
            let settle = configuration.transactionSettleDelay
            if settle > 0 { try? await Task.sleep(for: .milliseconds(Int(settle * 1000))) }
            let commit: Int32 = failure == nil ? 1 : 0
            let end = await Self.withBervalAsync(txnID) { id in
                await roundTrip(session) { ld, msgid in ldap_txn_end(ld, commit, id, nil, nil, msgid) }
            }
            if let failure { throw failure }
            try Self.check(end) { "commit transaction of \(writes.count) writes (first: \(writes[0].operationName))" }
        }
    }

    private static func send(_ write: LDAPWrite, _ ld: OpaquePointer, _ msgid: UnsafeMutablePointer<Int32>,
                             _ controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>) -> Int32 {
        switch write {
        case .add(let dn, let attributes):
            let mods = attributes.filter { !$0.1.isEmpty }.map { (Int32(LDAP_MOD_ADD), $0.0, $0.1) }
            return withMods(mods) { ldap_add_ext(ld, dn.string, $0, controls, nil, msgid) }
        case .modify(let dn, let modifications):
            return withMods(modList(modifications)) { ldap_modify_ext(ld, dn.string, $0, controls, nil, msgid) }
        case .delete(let dn):
            return ldap_delete_ext(ld, dn.string, controls, nil, msgid)
        }
    }

    /// A NULL-terminated control list holding the critical transaction specification
    /// control for `txnID`, valid during `body`.
    private static func withTransactionControl<R>(
        _ txnID: Data, _ body: (UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>) async -> R
    ) async -> R {
        let oid = strdup(transactionSpecificationOID)
        let value = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, txnID.count))
        let control = UnsafeMutablePointer<LDAPControl>.allocate(capacity: 1)
        let list = UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>.allocate(capacity: 2)
        defer {
            free(oid)
            value.deallocate()
            control.deallocate()
            list.deallocate()
        }
        txnID.withUnsafeBytes { raw in
            if let base = raw.baseAddress { memcpy(value, base, txnID.count) }
        }
        control.initialize(to: LDAPControl(ldctl_oid: oid, ldctl_value: berval(bv_len: ber_len_t(txnID.count), bv_val: value),
                                           ldctl_iscritical: 1))
        list[0] = control
        list[1] = nil
        return await body(list)
    }

    private static func withBervalAsync<R>(_ data: Data, _ body: (UnsafeMutablePointer<berval>) async -> R) async -> R {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(data.count, 1))
        defer { buffer.deallocate() }
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { memcpy(buffer, base, data.count) }
        }
        let value = UnsafeMutablePointer<berval>.allocate(capacity: 1)
        defer { value.deallocate() }
        value.initialize(to: berval(bv_len: ber_len_t(data.count), bv_val: buffer))
        return await body(value)
    }
}
