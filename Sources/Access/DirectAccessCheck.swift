import Directory
import Foundation
import LDAPClient

/// Access decisions straight from LDAP, without the replica: one search per address,
/// `(&(objectClass=tgDestination)(tgAddressFrom<=X)(tgAddressTo>=X))` one level under the
/// tenant's `ou=destinations` (X the address as 32 hex digits; `tgAddressFrom` and
/// `tgAddressTo` have an ordering matching rule), then the same ``AccessDecider``.
///
/// `tollgate admin access check` uses this, and the tests compare it with the replica.
public struct DirectAccessCheck: Sendable {
    public let client: LDAPClient
    public let layout: DirectoryLayout

    public init(client: LDAPClient, layout: DirectoryLayout = DirectoryLayout()) {
        self.client = client
        self.layout = layout
    }

    /// The search filter for `address`.
    public static func filter(_ address: IPAddress) -> LDAPFilter {
        .and([.equal("objectClass", "tgDestination"), .lessOrEqual("tgAddressFrom", address.hex),
              .greaterOrEqual("tgAddressTo", address.hex)])
    }

    /// The tenant's destination entries whose stored range contains `address`
    /// (malformed entries left out, as the replica leaves them out).
    public func candidates(org: String, address: IPAddress) async throws -> [AccessRule] {
        guard !org.isEmpty, org.count <= 12, org.first != "0", org.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw InvalidFieldError(field: "org", message: "\"\(org.prefix(40))\" is not an organisation number (1 to 12 digits, no leading zero)")
        }
        let entries: [LDAPEntry]
        do {
            entries = try await client.search(base: layout.destinations(org), scope: .oneLevel, filter: Self.filter(address),
                                              attributes: AccessRule.attributeNames)
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        }
        return entries.compactMap { try? AccessRule(entry: $0) }
    }

    /// The decision for `addresses` of tenant `org` at `now`.
    public func decide(org: String, addresses: [IPAddress], query: AccessQuery, now: Date = Date()) async throws -> AccessDecision {
        var details: [AddressDecision] = []
        for address in addresses {
            let candidates = try await candidates(org: org, address: address)
            details.append(AccessDecider.decide(address: address, query: query, candidates: candidates, now: now))
        }
        return AccessDecision(details)
    }
}
