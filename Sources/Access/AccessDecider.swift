import Directory
import Foundation

/// The decision rule, pure: the same function decides for the replica (candidates from
/// ``TenantPolicy``) and for a direct LDAP search (candidates from
/// `(&(objectClass=tgDestination)(tgAddressFrom<=X)(tgAddressTo>=X))`).
///
/// Among the candidates whose network contains the address (same family), that are
/// valid at `now` (notBefore ≤ now < notAfter) and that match the question's protocol
/// and port (``AccessRule/matches(_:)``), the longest prefix wins; at equal prefix
/// length a deny rule beats an allow rule; between rules of equal length and action the
/// lower-cased DN decides (so the answer never depends on the order entries arrived in).
/// No matching rule: deny.
public enum AccessDecider {
    public static func decide(address: IPAddress, query: AccessQuery, candidates: [AccessRule], now: Date) -> AddressDecision {
        let key = Address128(address)
        var best: AccessRule?
        var outsideWindow: [AccessRule] = []
        var changesAt: Date?
        for rule in candidates where rule.contains(address, key) && rule.matches(query) {
            for edge in [rule.destination.notBefore, rule.destination.notAfter] {
                if let edge, edge > now, edge < (changesAt ?? .distantFuture) { changesAt = edge }
            }
            guard rule.destination.isValid(at: now) else {
                outsideWindow.append(rule)
                continue
            }
            if let current = best, !Self.beats(rule, current) { continue }
            best = rule
        }
        guard let best else {
            var reason = "no destination matches"
            if let first = outsideWindow.min(by: { $0.sortKey < $1.sortKey }) {
                let state = (first.destination.notBefore.map { now < $0 } ?? false) ? "not valid yet" : "expired"
                reason += " (\(first.destination.name), \(first.summary), is \(state))"
            }
            return AddressDecision(address: address, allow: false, rule: nil, reason: reason, changesAt: changesAt)
        }
        return AddressDecision(address: address, allow: !best.isDeny, rule: best,
                               reason: "\(best.isDeny ? "denied" : "allowed") by \(best.summary)", changesAt: changesAt)
    }

    /// All addresses of one question.
    public static func decide(addresses: [IPAddress], query: AccessQuery, now: Date,
                              candidates: (IPAddress) -> [AccessRule]) -> AccessDecision {
        AccessDecision(addresses.map { decide(address: $0, query: query, candidates: candidates($0), now: now) })
    }

    /// True if `rule` takes precedence over `current`.
    static func beats(_ rule: AccessRule, _ current: AccessRule) -> Bool {
        if rule.prefixLength != current.prefixLength { return rule.prefixLength > current.prefixLength }
        if rule.isDeny != current.isDeny { return rule.isDeny }
        return rule.sortKey < current.sortKey
    }
}
