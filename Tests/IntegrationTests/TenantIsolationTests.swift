import Directory
import Foundation
import LDAPClient
import ManagedSlapd
import Testing

/// A search whose base the identity may not see answers noSuchObject: count that as
/// "found nothing", and rethrow any other error.
func searchOrEmpty(_ client: LDAPClient, base: DistinguishedName, filter: LDAPFilter) async throws -> [LDAPEntry] {
    do {
        return try await client.search(base: base, filter: filter)
    } catch let error as LDAPError where error.code == .noSuchObject {
        return []
    }
}

/// slapd's ACLs (ldif/acl.ldif) as seen by subscribers and anonymous clients.
@Suite("Tenant isolation in slapd ACLs")
struct TenantIsolationTests {
    func subscriberClient(_ slapd: ManagedSlapd, org: String, signature: String) -> LDAPClient {
        LDAPClient(configuration: LDAPConfiguration(
            url: slapd.ldapURL, credentials: .simple(dn: DirectoryLayout().subscriber(org), password: signature),
            maximumConnections: 1, reconnectWindow: 0))
    }

    @Test("a subscriber bound as itself reads its own subtree and nothing of tenant 1002")
    func subscriberSeesOnlyItself() async throws {
        let slapd = try await SharedSlapd.get()
        let client = subscriberClient(slapd, org: "1001", signature: "demo-signature-1001")
        let layout = DirectoryLayout()
        let own = try await client.search(base: layout.subscriber("1001"), filter: .present("objectClass"))
        #expect(own.count >= 10)
        #expect(own.contains { $0["tgNetwork"] == "10.20.0.0/16" })
        // The other tenant: its entry does not exist as far as 1001 can tell.
        let other = await #expect(throws: LDAPError.self) {
            try await client.search(base: layout.subscriber("1002"), scope: .base)
        }
        #expect(other?.code == .noSuchObject)
        // A subtree search from the top: the suffix itself is not disclosed to subscribers
        // (noSuchObject); whatever a search could return is 1001's alone.
        let fromTop = try await searchOrEmpty(client, base: "dc=tollgate", filter: .present("tgOrgNumber"))
        #expect(fromTop.allSatisfy { $0["tgOrgNumber"] == "1001" })
        #expect(try await searchOrEmpty(client, base: "dc=tollgate", filter: .equal("tgOrgNumber", "1002")).isEmpty)
        #expect(try await searchOrEmpty(client, base: "ou=subscribers,dc=tollgate", filter: .equal("tgOrgNumber", "1002")).isEmpty)
        let mine = try await client.search(base: layout.subscriber("1001"), filter: .present("tgOrgNumber"))
        #expect(!mine.isEmpty && mine.allSatisfy { $0["tgOrgNumber"] == "1001" })
        // Its signature hash is not readable, not even by itself.
        #expect(try await client.read(layout.subscriber("1001"), attributes: ["userPassword"])?.values("userPassword").isEmpty == true)
        // It cannot write, not even in its own subtree.
        let write = await #expect(throws: LDAPError.self) {
            try await client.modify(layout.converter("1001", "conv-a"), [.replace("tgState", ["up"])])
        }
        #expect(write?.code == .insufficientAccessRights)
        await client.close()
    }

    @Test("tenant 1002 cannot read tenant 1001 either, nor the applications or servers")
    func otherDirection() async throws {
        let slapd = try await SharedSlapd.get()
        let client = subscriberClient(slapd, org: "1002", signature: "demo-signature-1002")
        #expect(try await searchOrEmpty(client, base: "dc=tollgate", filter: .equal("tgOrgNumber", "1001")).isEmpty)
        #expect(try await searchOrEmpty(client, base: DirectoryLayout().subscriber("1001"), filter: .present("objectClass")).isEmpty)
        #expect(try await searchOrEmpty(client, base: "ou=applications,dc=tollgate", filter: .present("objectClass")).isEmpty)
        #expect(try await searchOrEmpty(client, base: "ou=servers,dc=tollgate", filter: .present("objectClass")).isEmpty)
        let own = try await client.search(base: DirectoryLayout().subscriber("1002"), filter: .present("objectClass"))
        #expect(own.contains { $0["cn"] == "conv-c" })
        #expect(own.allSatisfy { $0.dn.string.lowercased().hasSuffix("tgorgnumber=1002,ou=subscribers,dc=tollgate") })
        await client.close()
    }

    @Test("anonymous clients read the CA entry's certificates and CRL, nothing else")
    func anonymous() async throws {
        let slapd = try await SharedSlapd.get()
        let anonymous = LDAPClient(url: slapd.ldapURL)
        let ca = try #require(try await anonymous.read("cn=ca,ou=pki,dc=tollgate"))
        #expect(ca.hasObjectClass("pkiCA"))
        #expect(try await searchOrEmpty(anonymous, base: "dc=tollgate", filter: .present("objectClass")).isEmpty)
        #expect(try await anonymous.search(base: "cn=ca,ou=pki,dc=tollgate", filter: .present("objectClass")).map(\.dn) == ["cn=ca,ou=pki,dc=tollgate"])
        let denied = await #expect(throws: LDAPError.self) { try await anonymous.search(base: DirectoryLayout().subscriber("1001"), scope: .base) }
        #expect(denied?.code == .noSuchObject)
        await anonymous.close()
    }

    @Test("repeated wrong signatures lock the subscriber (ppolicy), visible in the directory, unlocked by an operator")
    func lockout() async throws {
        let slapd = try await SharedSlapd.get()
        let store = DirectoryStore(client: slapd.client())
        let org = uniqueOrgNumber()
        try await store.addSubscriber(Subscriber(orgNumber: org, subscriberId: "\(org)-01", name: "Lock Test", mail: "l@test.example"),
                                      signature: "right-signature-123")
        let dn = store.layout.subscriber(org)
        #expect(try await store.client.checkPassword(dn: dn, password: "right-signature-123"))
        for _ in 0..<5 { #expect(try await !store.client.checkPassword(dn: dn, password: "wrong-signature")) }
        #expect(try await !store.client.checkPassword(dn: dn, password: "right-signature-123"), "locked: the right signature no longer works")
        #expect(try await store.subscriber(org)?.locked == true)
        // An operator unlocks it; the right signature works again.
        #expect(try await store.unlockSubscriber(org))
        #expect(try await store.subscriber(org)?.locked == false)
        #expect(try await store.client.checkPassword(dn: dn, password: "right-signature-123"))
        // Only the salted hash is stored.
        let stored = try #require(try await store.client.read(dn, attributes: ["userPassword"])?["userPassword"])
        #expect(stored.hasPrefix("{SSHA512}"))
        try await store.removeSubscriber(org)
    }
}
