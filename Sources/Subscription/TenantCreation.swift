import Directory
import Foundation
import LDAPClient
import Logging

/// Turns a pending application into a tenant: allocates an organisation number, then
/// writes the subscriber (with its signature's salted hash in `userPassword`), its
/// containers, converters, destinations, the first history events and the application's
/// outcome in ONE LDAP transaction: a crash or failure at any point leaves the whole
/// tenant or none of it.
///
/// The counter lives on `cn=org-number-counter,ou=applications` (`tgOrgNumber`). One
/// modify deletes the value read and adds the next one; if a concurrent approver moved
/// the counter, that delete fails and the step is retried. The application's `tgState`
/// is changed the same way inside the transaction (delete `pending`, add `approved`), so
/// one application is never approved twice. Numbers are never reused: the counter only
/// grows, also when a transaction fails or a tenant is removed later. (Allocation is not
/// inside the transaction: slapd 2.5.13 proved unstable with many concurrently aborted
/// transactions.)
struct TenantCreation: Sendable {
    let store: DirectoryStore
    let application: Application
    let reason: String
    let actor: String
    let logger: Logger

    /// The first organisation number issued on an empty directory is this plus one.
    static let counterStart = 1000
    static let maximumAttempts = 64

    var counterDN: DistinguishedName { store.layout.applications.child("cn", "org-number-counter") }
    var applicationDN: DistinguishedName { store.layout.applications.child("tgApplicationId", application.id) }

    /// Commits the tenant `org` with `signature`. Returns false when a tenant with that
    /// number exists already (made outside the counter: allocate the next one); throws
    /// ``SubscriptionError/alreadyDecided(_:state:)`` when the application was decided
    /// concurrently and ``SubscriptionError/directory(_:)`` for anything else. Nothing is
    /// written unless it returns true.
    func commit(org: String, signature: String) async throws(SubscriptionError) -> Bool {
        do {
            let writes = try tenantWrites(org: org, signature: signature)
            let client = store.client
            var beforeCommit: (@Sendable () async -> Void)?
            if let pause = TestPause.current, pause.phase == .inTransaction { beforeCommit = { await pause.wait() } }
            let hook = beforeCommit
            try await TransactionGate.shared.run { try await client.transaction(writes, beforeCommit: hook) }
        } catch let error as LDAPError where error.code == .noSuchAttribute {
            // The application's state moved under us: decided concurrently.
            let now = try? await store.client.read(applicationDN, attributes: ["tgState"])
            throw .alreadyDecided(application.id, state: now?["tgState"] ?? "gone")
        } catch let error as LDAPError where error.code == .entryAlreadyExists && error.operation.contains("tgOrgNumber=\(org),") {
            return false
        } catch let error as SubscriptionError {
            throw error
        } catch {
            throw .directory("create the tenant for application \(application.id) (nothing was written): \(error)")
        }
        if let pause = TestPause.current, pause.phase == .afterCommit { await pause.wait() }
        return true
    }

    /// Issues the next organisation number: one modify deletes the value read and adds
    /// the next; if a concurrent approver moved the counter first, the delete fails and
    /// the step is retried with the new value.
    func allocate() async throws(SubscriptionError) -> String {
        for attempt in 1...Self.maximumAttempts {
            let current = try await counter()
            let next = String(current + 1)
            do {
                try await store.client.modify(counterDN, [.delete("tgOrgNumber", [String(current)]), .add("tgOrgNumber", [next])])
                return next
            } catch let error as LDAPError where error.code == .noSuchAttribute {
                try? await Task.sleep(for: .milliseconds(Int.random(in: 1...(2 * attempt))))
            } catch {
                throw .directory("step the organisation number counter \(counterDN): \(error)")
            }
        }
        throw .directory("could not allocate an organisation number after \(Self.maximumAttempts) attempts (too many concurrent approvals); retry")
    }

    /// The current counter value; creates the counter entry (starting above every
    /// existing tenant) when it is missing.
    func counter() async throws(SubscriptionError) -> Int {
        do {
            if let entry = try await store.client.read(counterDN, attributes: ["tgOrgNumber"]), let value = entry["tgOrgNumber"].flatMap(Int.init) {
                return value
            }
            let highest = try await store.subscribers().compactMap { Int($0.orgNumber) }.max() ?? 0
            do {
                try await store.client.add(counterDN, attributes: [
                    ("objectClass", ["applicationProcess", "extensibleObject"]), ("cn", ["org-number-counter"]),
                    ("tgOrgNumber", [String(max(highest, Self.counterStart))]),
                    ("description", ["Last organisation number issued; only grows (Tollgate approvals)"])])
            } catch let error as LDAPError where error.code == .entryAlreadyExists {
                // A concurrent approver created it.
            }
            guard let value = try await store.client.read(counterDN, attributes: ["tgOrgNumber"])?["tgOrgNumber"].flatMap(Int.init) else {
                throw SubscriptionError.directory("\(counterDN) has no numeric tgOrgNumber; fix it with ldapmodify")
            }
            return value
        } catch let error as SubscriptionError {
            throw error
        } catch {
            throw .directory("read the organisation number counter \(counterDN): \(error)")
        }
    }

    /// Every write of the tenant, the application's outcome last.
    func tenantWrites(org: String, signature: String) throws(SubscriptionError) -> [LDAPWrite] {
        let layout = store.layout
        let subscriber = Subscriber(orgNumber: org, subscriberId: "\(org)-01", name: application.name, mail: application.mail,
                                    billingMethod: application.billingMethod, state: "active")
        var writes: [LDAPWrite] = [
            add(layout.subscriber(org), subscriber.entryAttributes + [("tgApplicationId", [application.id]),
                                                                      ("userPassword", [Secrets.ssha512(signature)])]),
        ]
        for container in DirectoryLayout.tenantContainers {
            writes.append(add(layout.subscriber(org).child("ou", container.name), [
                ("objectClass", ["organizationalUnit"]), ("ou", [container.name]), ("description", [container.description])]))
        }
        // The tenant's history starts with the exchanges so far (the global history keeps
        // its own copies).
        let historyEvents = [
            HistoryEvent(type: "application.received", orgNumber: org, actor: "applicant",
                         data: ApplicationService.json(["applicationId": application.id]), time: application.received),
            HistoryEvent(type: "application.approved", orgNumber: org, actor: actor,
                         data: ApplicationService.json(["applicationId": application.id, "reason": reason])),
            HistoryEvent(type: "subscriber.added", orgNumber: org, actor: actor,
                         data: ApplicationService.json(["applicationId": application.id])),
            HistoryEvent(type: "credentials.issued", orgNumber: org, actor: actor,
                         data: ApplicationService.json(["subscriberId": "\(org)-01", "credential": "signature"])),
        ]
        do {
            for event in historyEvents { writes.append(try store.historyWrite(event)) }
        } catch {
            throw .directory("history event: \(error)")
        }
        do {
            try subscriber.validate()
            for requested in application.converters {
                let converter = try requested.converter(orgNumber: org)
                try converter.validate()
                writes.append(add(layout.converter(org, converter.name), converter.entryAttributes))
            }
            var names = Set<String>()
            for requested in application.destinations {
                let destination = try requested.destination(orgNumber: org)
                try destination.validate()
                guard names.insert(destination.name).inserted else { continue }
                writes.append(add(layout.destination(org, destination.name), destination.entryAttributes))
            }
        } catch let error as InvalidFieldError {
            throw .invalidField(error)
        } catch {
            throw .directory("\(error)")
        }
        writes.append(.modify(applicationDN, [.delete("tgState", ["pending"]), .add("tgState", ["approved"]),
                                              .replace("tgOrgNumber", [org]), .replace("tgVerdictReason", [reason])]))
        return writes
    }

    private func add(_ dn: DistinguishedName, _ attributes: [(String, [String])]) -> LDAPWrite {
        .add(dn, attributes.map { ($0.0, $0.1.map { Data($0.utf8) }) })
    }
}
