import Crypto
import Foundation

/// One CHILD_SA the policy allows: a child of the agent's IKE connection whose remote
/// traffic selectors are the destination network (with protocol and port where IKE can
/// express them).
public struct PlannedChild: Sendable, Equatable, Hashable {
    /// The child's name in swanctl.conf: `d-<destination name>-<8 hex>`; the hex digits
    /// change when network, protocol or ports change, so an edited destination replaces
    /// its tunnel.
    public var name: String
    public var destinationDN: String
    /// swanctl traffic selectors, e.g. `10.20.0.0/16[tcp/443]`.
    public var remoteTS: [String]
}

/// The children the agent wants, derived from a policy at a point in time.
///
/// - Only `allow` destinations valid now get a child.
/// - Protocol and ports go into the traffic selectors: one selector per port range
///   (`10.20.0.0/16[tcp/8000-8080]`); `any` selects every protocol.
/// - Deny entries are carved out, following the decision rules of docs/access.md
///   (longest prefix wins, deny beats allow at equal length): a valid deny whose network
///   lies inside an allow's network (or is it) and that touches the allow's protocol and
///   ports is removed from the allow's selectors. IKE selectors cannot say "except", so
///   the allow's network is split into the CIDR blocks around the denied one, and ports
///   are subtracted as port ranges. A deny that names one protocol inside an allow for
///   `any` protocol cannot be subtracted (the rest would be every other protocol): its
///   whole network is left out of the tunnel, which is then stricter than `check`;
///   ``narrowed`` says so. Denies with a shorter prefix than the allow lose to it, as in
///   `check`. More specific allows inside a denied network get children of their own.
/// - A child needs at most ``maximumSelectors`` selectors; beyond that the destination is
///   skipped (fail closed).
public struct TunnelPlan: Sendable, Equatable {
    public var children: [PlannedChild]
    /// Destinations that were left out, with the reason (for logs and state.json).
    public var skipped: [String]
    /// Destinations whose tunnel carries less than `check` allows, with the reason.
    public var narrowed: [String]

    /// Most traffic selectors of one child.
    public static let maximumSelectors = 128

    public init(children: [PlannedChild] = [], skipped: [String] = [], narrowed: [String] = []) {
        self.children = children
        self.skipped = skipped
        self.narrowed = narrowed
    }

    /// The empty plan: no tunnels (fail closed).
    public static let none = TunnelPlan()

    public init(policy: AccessPolicy, at now: Date) {
        var children: [PlannedChild] = []
        var skipped: [String] = []
        var narrowed: [String] = []
        let valid = policy.destinations.filter { $0.isValid(at: now) }
        let denies = valid.filter { $0.action == "deny" }.compactMap { deny in CIDR(deny.network).map { (deny, $0) } }
        for destination in valid where destination.action == "allow" {
            guard let network = CIDR(destination.network) else {
                skipped.append("\(destination.name): unusable network \(destination.network)")
                continue
            }
            guard let ports = Self.portRanges(protocol: destination.protocol, ports: destination.ports) else {
                skipped.append("\(destination.name): protocol \(destination.protocol) or ports \(destination.ports) cannot be expressed")
                continue
            }
            var pieces = [Piece(network: network, ports: ports)]
            var carvedBy: [String] = []
            for (deny, denied) in denies where network.contains(denied) {
                guard let effect = Self.effect(of: deny, on: destination) else { continue }
                pieces = pieces.flatMap { $0.carving(denied, effect) }
                carvedBy.append(deny.name)
                if case .whole(exact: false) = effect {
                    narrowed.append("\(destination.name): \(denied) left out of the tunnel entirely: deny rule \(deny.name) covers only "
                                    + "protocol \(deny.protocol) there, and IKE selectors cannot express every other protocol (check allows the rest)")
                }
            }
            pieces.sort()
            if pieces.isEmpty {
                skipped.append("\(destination.name): shadowed by deny rule \(carvedBy.joined(separator: ", "))")
                continue
            }
            let selectors = pieces.flatMap { Self.trafficSelectors(network: $0.network, protocol: destination.protocol, ports: $0.ports) }
            guard selectors.count <= Self.maximumSelectors else {
                skipped.append("\(destination.name): \(selectors.count) traffic selectors after carving out deny rules "
                               + "\(carvedBy.joined(separator: ", ")) (at most \(Self.maximumSelectors)); no tunnel (fail closed)")
                continue
            }
            children.append(PlannedChild(name: Self.childName(destination, selectors: selectors), destinationDN: destination.dn,
                                         remoteTS: selectors))
        }
        children.sort { $0.name < $1.name }
        // Two destinations with the same name and content would collide: keep one.
        var seen = Set<String>()
        self.children = children.filter { seen.insert($0.name).inserted }
        self.skipped = skipped
        self.narrowed = narrowed
    }

    /// The earliest future moment at which a destination's validity starts or ends (the
    /// plan must be recomputed then).
    public static func nextChange(of policy: AccessPolicy, after now: Date) -> Date? {
        policy.destinations.flatMap { [$0.notBefore, $0.notAfter] }.compactMap { $0 }.filter { $0 > now }.min()
    }

    /// What a deny does inside an allow's network.
    enum Effect: Equatable {
        /// Nothing of the allow is left there; `exact` false: more than the deny refuses.
        case whole(exact: Bool)
        /// These ports (of the allow's protocol) are refused there.
        case ports([PortRange])
    }

    /// How `deny` cuts into `allow` where their networks meet; nil when they share no
    /// protocol and port (docs/access.md: a deny must touch the question).
    static func effect(of deny: PolicyDestination, on allow: PolicyDestination) -> Effect? {
        let denyProtocol = deny.protocol.isEmpty ? "any" : deny.protocol
        let allowProtocol = allow.protocol.isEmpty ? "any" : allow.protocol
        if denyProtocol == "any" { return .whole(exact: true) }
        if allowProtocol == "any" { return .whole(exact: false) }
        guard denyProtocol == allowProtocol else { return nil }
        guard denyProtocol == "tcp" || denyProtocol == "udp" else { return .whole(exact: true) }
        let denied = deny.ports.isEmpty ? [PortRange.all] : deny.ports.compactMap(PortRange.init)
        let allowed = allow.ports.isEmpty ? [PortRange.all] : allow.ports.compactMap(PortRange.init)
        guard denied.contains(where: { d in allowed.contains { $0.overlaps(d) } }) else { return nil }
        return .ports(denied)
    }

    /// The port ranges of a destination's selectors: nil if unusable, `[]` for protocols
    /// without ports (and tcp/udp without a port list: all ports, written without ports).
    static func portRanges(protocol: String, ports: [String]) -> [PortRange]? {
        switch `protocol` {
        case "any", "", "icmp", "esp": return []
        case "tcp", "udp":
            var ranges: [PortRange] = []
            for text in ports {
                guard let range = PortRange(text) else { return nil }
                ranges.append(range)
            }
            return ranges
        default: return nil
        }
    }

    /// swanctl traffic selectors for one network; `ports` empty: the whole protocol.
    static func trafficSelectors(network: CIDR, protocol: String, ports: [PortRange]) -> [String] {
        let base = network.description
        switch `protocol` {
        case "tcp", "udp":
            if ports.isEmpty { return ["\(base)[\(`protocol`)]"] }
            return ports.map { "\(base)[\(`protocol`)/\($0)]" }
        case "icmp":
            return ["\(base)[\(network.isIPv6 ? "ipv6-icmp" : "icmp")]"]
        case "esp":
            return ["\(base)[esp]"]
        default:
            return [base]
        }
    }

    static func childName(_ destination: PolicyDestination, selectors: [String]) -> String {
        let safe = String(destination.name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" }
            .prefix(24))
        let identity = ([destination.dn.lowercased()] + selectors).joined(separator: "|")
        let digest = SHA256.hash(data: Data(identity.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "d-\(safe)-\(digest)"
    }
}

/// Part of an allow's address space with the ports still allowed there (`[]`: all).
struct Piece: Comparable {
    var network: CIDR
    var ports: [PortRange]

    /// This piece without what `effect` refuses inside `denied`.
    func carving(_ denied: CIDR, _ effect: TunnelPlan.Effect) -> [Piece] {
        guard network.overlaps(denied) else { return [self] }
        let around = network.subtracting(denied).map { Piece(network: $0, ports: ports) }
        let inside = network.contains(denied) ? denied : network
        switch effect {
        case .whole:
            return around
        case .ports(let refused):
            let left = PortRange.subtract(refused, from: ports.isEmpty ? [.all] : ports)
            return left.isEmpty ? around : around + [Piece(network: inside, ports: left)]
        }
    }

    static func < (a: Piece, b: Piece) -> Bool {
        if a.network.bytes != b.network.bytes { return a.network.bytes.lexicographicallyPrecedes(b.network.bytes) }
        if a.network.prefixLength != b.network.prefixLength { return a.network.prefixLength < b.network.prefixLength }
        return a.ports.map(\.lower).lexicographicallyPrecedes(b.ports.map(\.lower))
    }
}

/// An inclusive port range (`443` or `8000-8080`).
struct PortRange: Equatable, Hashable, CustomStringConvertible {
    var lower: Int
    var upper: Int

    init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard (1...2).contains(parts.count), let lower = Int(parts[0]), let upper = Int(parts.last ?? ""),
              (0...65535).contains(lower), (0...65535).contains(upper), lower <= upper else { return nil }
        self.lower = lower
        self.upper = upper
    }

    init(lower: Int, upper: Int) {
        self.lower = lower
        self.upper = upper
    }

    static let all = PortRange(lower: 0, upper: 65535)

    var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }

    func overlaps(_ other: PortRange) -> Bool { lower <= other.upper && other.lower <= upper }

    /// `ranges` without every port of `refused`, sorted and merged.
    static func subtract(_ refused: [PortRange], from ranges: [PortRange]) -> [PortRange] {
        var left = ranges
        for hole in refused {
            left = left.flatMap { range -> [PortRange] in
                guard range.overlaps(hole) else { return [range] }
                var parts: [PortRange] = []
                if range.lower < hole.lower { parts.append(PortRange(lower: range.lower, upper: hole.lower - 1)) }
                if hole.upper < range.upper { parts.append(PortRange(lower: hole.upper + 1, upper: range.upper)) }
                return parts
            }
        }
        var merged: [PortRange] = []
        for range in left.sorted(by: { $0.lower < $1.lower }) {
            if let last = merged.last, range.lower <= last.upper + 1 {
                merged[merged.count - 1].upper = max(last.upper, range.upper)
            } else {
                merged.append(range)
            }
        }
        return merged
    }
}
