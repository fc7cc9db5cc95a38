import Directory
import Foundation

/// The answer for one address.
public struct AddressDecision: Sendable, Hashable {
    public var address: IPAddress
    public var allow: Bool
    /// The rule that decided, nil when nothing matched.
    public var rule: AccessRule?
    /// Human-readable: "allowed by 10.20.0.0/16 tcp/443", "denied by …", "no destination matches".
    public var reason: String
    /// The next time a rule that speaks about this question starts or stops being valid
    /// (the answer may change then), if any.
    public var changesAt: Date?
}

/// The answer for a whole question (all addresses a destination stands for).
public struct AccessDecision: Sendable, Hashable {
    public var allow: Bool
    public var reason: String
    /// DN of the deciding rule: the deny rule, or the allow rule of the first address;
    /// nil when nothing matched.
    public var rule: String?
    public var addresses: [IPAddress]
    public var changesAt: Date?
    /// Per address, in order.
    public var details: [AddressDecision]

    /// Combines per-address answers: allowed only if every address is allowed; the first
    /// refused address gives the reason (prefixed with the address when there are several).
    public init(_ details: [AddressDecision]) {
        self.details = details
        addresses = details.map(\.address)
        changesAt = details.compactMap(\.changesAt).min()
        if details.isEmpty {
            allow = false
            reason = "the destination has no address"
            rule = nil
        } else if let refused = details.first(where: { !$0.allow }) {
            allow = false
            reason = details.count > 1 ? "\(refused.address): \(refused.reason)" : refused.reason
            rule = refused.rule?.dn
        } else {
            allow = true
            reason = details.count > 1 ? "\(details[0].reason) (all \(details.count) addresses allowed)" : details[0].reason
            rule = details[0].rule?.dn
        }
    }

    /// A refusal that no rule made (e.g. a name that does not resolve).
    public init(refused reason: String) {
        allow = false
        self.reason = reason
        rule = nil
        addresses = []
        changesAt = nil
        details = []
    }
}
