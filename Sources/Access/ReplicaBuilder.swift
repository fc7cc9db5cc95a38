import CertificateAuthority
import Directory
import Foundation
import LDAPClient
import X509

/// The synchronisation thread's working copy: entries by entryUUID, turned into
/// ``PolicyReplica/Update``s. Used by one thread only (not thread-safe).
///
/// RFC 4533 bookkeeping: during a refresh every entry the server mentions (as added,
/// modified or present, alone or in a syncIdSet) is marked; when a *present* phase ends
/// every unmarked entry is deleted, when a *delete* phase ends nothing more is (deletes
/// came explicitly). In the persist phase changes arrive one by one.
final class ReplicaBuilder {
    struct UUID: Hashable {
        var high: UInt64
        var low: UInt64

        init?(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count == 16 else { return nil }
            var high: UInt64 = 0, low: UInt64 = 0
            for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
            for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
            self.high = high
            self.low = low
        }
    }

    private enum Record {
        case destination(org: String, rule: AccessRule)
        case converter(ConverterIdentity?)
        case revoked(serial: String)
        /// A subscriber entry (its tgState goes into the update when it changes).
        case subscriber(org: String)
        /// Mentioned by the server but of no interest (malformed, or outside the tenant layout).
        case ignored
    }

    let suffix: [RDN]
    private let onProblem: (String) -> Void
    private var records: [UUID: Record] = [:]
    private var destinations: [String: [UUID: AccessRule]] = [:]
    private var dirtyTenants: Set<String> = []
    private var identityChanges: [String: ConverterIdentity?] = [:]
    private var revokedChanges: [String: Bool] = [:]
    private var tenantStateChanges: [String: String?] = [:]
    private var seen: Set<UUID> = []
    private(set) var refreshing = false

    init(suffix: LDAPDistinguishedName, onProblem: @escaping (String) -> Void) {
        self.suffix = RDN.parse(suffix.string) ?? []
        self.onProblem = onProblem
    }

    var entryCount: Int { records.count }

    // MARK: - Refresh bookkeeping

    func beginRefresh() {
        refreshing = true
        seen.removeAll(keepingCapacity: true)
    }

    /// A refresh phase ended. After a present phase, entries not mentioned are gone.
    func endPhase(present: Bool) {
        if present {
            for uuid in Array(records.keys) where !seen.contains(uuid) { remove(uuid) }
        }
        seen.removeAll(keepingCapacity: true)
    }

    func endRefresh() {
        refreshing = false
        seen.removeAll(keepingCapacity: true)
    }

    func present(_ uuid: UUID) {
        if refreshing { seen.insert(uuid) }
    }

    // MARK: - Changes

    /// An added or modified entry (its complete view).
    func upsert(_ uuid: UUID, _ entry: LDAPEntry) {
        present(uuid)
        remove(uuid)
        let record = classify(entry)
        records[uuid] = record
        switch record {
        case .destination(let org, let rule):
            destinations[org, default: [:]][uuid] = rule
            dirtyTenants.insert(org)
        case .converter(let identity):
            if let identity { identityChanges[identity.serial] = .some(identity) }
        case .revoked(let serial):
            revokedChanges[serial] = true
        case .subscriber(let org):
            tenantStateChanges[org] = .some(stateOf(entry))
        case .ignored:
            break
        }
    }

    func remove(_ uuid: UUID) {
        guard let record = records.removeValue(forKey: uuid) else { return }
        switch record {
        case .destination(let org, _):
            destinations[org]?[uuid] = nil
            if destinations[org]?.isEmpty == true { destinations[org] = nil }
            dirtyTenants.insert(org)
        case .converter(let identity):
            if let identity { identityChanges[identity.serial] = .some(nil) }
        case .revoked(let serial):
            revokedChanges[serial] = false
        case .subscriber(let org):
            tenantStateChanges[org] = .some(nil)
        case .ignored:
            break
        }
    }

    /// Everything changed since the last call, as one update (tenants rebuilt whole).
    func takeUpdate() -> PolicyReplica.Update {
        var update = PolicyReplica.Update()
        for org in dirtyTenants {
            update.tenants[org] = TenantPolicy(org: org, rules: Array((destinations[org] ?? [:]).values))
        }
        update.identities = identityChanges
        update.revoked = revokedChanges
        update.tenantStates = tenantStateChanges
        tenantStateChanges.removeAll(keepingCapacity: true)
        dirtyTenants.removeAll(keepingCapacity: true)
        identityChanges.removeAll(keepingCapacity: true)
        revokedChanges.removeAll(keepingCapacity: true)
        return update
    }

    // MARK: -

    private func stateOf(_ entry: LDAPEntry) -> String { entry["tgState"]?.lowercased() ?? "active" }

    private func classify(_ entry: LDAPEntry) -> Record {
        let location = EntryLocation(dn: entry.dn.string, suffix: suffix)
        if entry.hasObjectClass("tgDestination") {
            guard case .tenant(let org, "destinations", _) = location else { return .ignored }
            do {
                return .destination(org: org, rule: try AccessRule(entry: entry))
            } catch {
                onProblem("\(error)")
                return .ignored
            }
        }
        if entry.hasObjectClass("tgConverter") {
            guard case .tenant(let org, "converters", _) = location else { return .ignored }
            guard let der = entry.values("userCertificate;binary").first else { return .converter(nil) }
            guard let certificate = try? Certificate(derEncoded: Array(der)) else {
                onProblem("converter \(entry.dn): userCertificate;binary is not a DER certificate; it cannot authenticate")
                return .converter(nil)
            }
            let name = entry["cn"] ?? ""
            return .converter(ConverterIdentity(org: org, name: name, serial: SerialNumbers.hex(certificate.serialNumber),
                                                state: entry["tgState"]?.lowercased() ?? "registered", dn: entry.dn.string))
        }
        if entry.hasObjectClass("tgRevokedCertificate"), case .revoked(let serial) = location {
            return .revoked(serial: serial)
        }
        if entry.hasObjectClass("tgSubscriber"), case .subscriber(let org) = location {
            return .subscriber(org: org)
        }
        return .ignored
    }
}
