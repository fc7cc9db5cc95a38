import Directory
import Foundation

/// One tenant's destinations as the replica holds them: immutable, indexed for
/// containment lookups, with a content version (the ETag of `GET /v1/policy`).
///
/// The index has one hash table per prefix length and address family, keyed by the
/// network address; a lookup masks the address once per prefix length present (at most
/// 33 for IPv4, 129 for IPv6, usually a handful) and collects the rules whose network
/// contains it. ``AccessDecider`` then picks the winner.
public final class TenantPolicy: Sendable {
    public let org: String
    /// All rules, sorted by lower-cased DN.
    public let rules: [AccessRule]
    /// Hex digest of the rules' content; equal content gives an equal version.
    public let version: String
    /// The `destinations` array of `GET /v1/policy`, encoded once per version.
    public let destinationsJSON: String

    private struct PrefixTable: Sendable {
        let mappedPrefixLength: Int
        let buckets: [Address128: [AccessRule]]
    }
    private let ipv4: [PrefixTable]
    private let ipv6: [PrefixTable]

    public init(org: String, rules: [AccessRule]) {
        self.org = org
        self.rules = rules.sorted { $0.sortKey < $1.sortKey }
        ipv4 = Self.tables(self.rules.filter(\.isIPv4))
        ipv6 = Self.tables(self.rules.filter { !$0.isIPv4 })
        var hash = FNV1a()
        for rule in self.rules { hash.add(Self.canonical(rule)); hash.add("\n") }
        version = hash.hex
        destinationsJSON = Self.encode(self.rules)
    }

    /// The empty policy of a tenant without destinations (or an unknown tenant).
    public static func empty(_ org: String) -> TenantPolicy { TenantPolicy(org: org, rules: []) }

    /// The rules whose network contains `address`.
    public func candidates(for address: IPAddress) -> [AccessRule] {
        let key = Address128(address)
        var found: [AccessRule] = []
        for table in address.isIPv4 ? ipv4 : ipv6 {
            if let bucket = table.buckets[key.masked(table.mappedPrefixLength)] { found += bucket }
        }
        return found
    }

    /// The decision for `addresses` at `now`.
    public func decide(addresses: [IPAddress], query: AccessQuery, now: Date) -> AccessDecision {
        AccessDecider.decide(addresses: addresses, query: query, now: now) { candidates(for: $0) }
    }

    private static func tables(_ rules: [AccessRule]) -> [PrefixTable] {
        var byLength: [Int: [Address128: [AccessRule]]] = [:]
        for rule in rules { byLength[rule.mappedPrefixLength, default: [:]][rule.first, default: []].append(rule) }
        return byLength.map { PrefixTable(mappedPrefixLength: $0.key, buckets: $0.value) }
            .sorted { $0.mappedPrefixLength > $1.mappedPrefixLength }
    }

    private static func canonical(_ rule: AccessRule) -> String {
        let d = rule.destination
        return [rule.dn, d.name, d.network.description, rule.protocol.rawValue, d.ports.map(\.description).joined(separator: ","),
                d.action, d.notBefore.map(GeneralizedTime.string) ?? "", d.notAfter.map(GeneralizedTime.string) ?? "",
                d.description ?? ""].joined(separator: "\u{1f}")
    }

    private static func encode(_ rules: [AccessRule]) -> String {
        var json = JSONWriter()
        json.beginArray()
            for rule in rules {
                let d = rule.destination
                json.beginObject()
                    json.field("dn", rule.dn)
                    json.field("name", d.name)
                    json.field("network", d.network.description)
                    json.field("protocol", rule.protocol.rawValue)
                    json.key("ports")
                    json.beginArray()
                    for port in d.ports { json.string(port.description) }
                    json.endArray()
                    json.field("action", d.action)
                    json.field("notBefore", d.notBefore.map(JSONWriter.iso8601))
                    json.field("notAfter", d.notAfter.map(JSONWriter.iso8601))
                    json.field("description", d.description)
                json.endObject()
            }
        json.endArray()
        return json.text
    }
}

/// 64-bit FNV-1a over UTF-8 text.
struct FNV1a {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 {
            state ^= UInt64(byte)
            state = state &* 0x0000_0100_0000_01b3
        }
    }

    var hex: String {
        let digits = String(state, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
