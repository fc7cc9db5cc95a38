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
/// - IKE traffic selectors cannot exclude anything: a `deny` entry is honoured only when it
///   shadows an allow completely (same network, and a protocol and ports that cover it);
///   a deny inside an allowed network (a carve-out) is not enforced by the tunnel, only by
///   `check`. docs/agent.md says so.
public struct TunnelPlan: Sendable, Equatable {
    public var children: [PlannedChild]
    /// Destinations that were left out, with the reason (for logs and state.json).
    public var skipped: [String]

    public init(children: [PlannedChild] = [], skipped: [String] = []) {
        self.children = children
        self.skipped = skipped
    }

    /// The empty plan: no tunnels (fail closed).
    public static let none = TunnelPlan()

    public init(policy: AccessPolicy, at now: Date) {
        var children: [PlannedChild] = []
        var skipped: [String] = []
        let valid = policy.destinations.filter { $0.isValid(at: now) }
        let denies = valid.filter { $0.action == "deny" }
        for destination in valid where destination.action == "allow" {
            guard let network = CIDR(destination.network) else {
                skipped.append("\(destination.name): unusable network \(destination.network)")
                continue
            }
            if let deny = denies.first(where: { Self.shadows($0, destination) }) {
                skipped.append("\(destination.name): shadowed by deny rule \(deny.name)")
                continue
            }
            guard let selectors = Self.trafficSelectors(network: network, protocol: destination.protocol, ports: destination.ports) else {
                skipped.append("\(destination.name): protocol \(destination.protocol) or ports \(destination.ports) cannot be expressed")
                continue
            }
            children.append(PlannedChild(name: Self.childName(destination, network: network), destinationDN: destination.dn,
                                         remoteTS: selectors))
        }
        children.sort { $0.name < $1.name }
        // Two destinations with the same name and content would collide: keep one.
        var seen = Set<String>()
        self.children = children.filter { seen.insert($0.name).inserted }
        self.skipped = skipped
    }

    /// The earliest future moment at which a destination's validity starts or ends (the
    /// plan must be recomputed then).
    public static func nextChange(of policy: AccessPolicy, after now: Date) -> Date? {
        policy.destinations.flatMap { [$0.notBefore, $0.notAfter] }.compactMap { $0 }.filter { $0 > now }.min()
    }

    /// Whether deny rule `deny` removes all of `allow` (same network; protocol any or equal;
    /// no ports or ports covering the allow's).
    static func shadows(_ deny: PolicyDestination, _ allow: PolicyDestination) -> Bool {
        guard let denied = CIDR(deny.network), let allowed = CIDR(allow.network), denied == allowed else { return false }
        guard deny.protocol == "any" || deny.protocol == allow.protocol else { return false }
        if deny.ports.isEmpty { return true }
        guard !allow.ports.isEmpty else { return false }
        let denyRanges = deny.ports.compactMap(PortRange.init)
        return allow.ports.compactMap(PortRange.init).allSatisfy { range in
            denyRanges.contains { $0.lower <= range.lower && range.upper <= $0.upper }
        }
    }

    /// swanctl traffic selectors for a destination, nil if they cannot be expressed.
    static func trafficSelectors(network: CIDR, protocol: String, ports: [String]) -> [String]? {
        let base = network.description
        switch `protocol` {
        case "any", "":
            return [base]
        case "tcp", "udp":
            if ports.isEmpty { return ["\(base)[\(`protocol`)]"] }
            var selectors: [String] = []
            for text in ports {
                guard let range = PortRange(text) else { return nil }
                selectors.append("\(base)[\(`protocol`)/\(range)]")
            }
            return selectors
        case "icmp":
            return ["\(base)[\(network.isIPv6 ? "ipv6-icmp" : "icmp")]"]
        case "esp":
            return ["\(base)[esp]"]
        default:
            return nil
        }
    }

    static func childName(_ destination: PolicyDestination, network: CIDR) -> String {
        let safe = String(destination.name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" }
            .prefix(24))
        let identity = [destination.dn.lowercased(), network.description, destination.protocol, destination.ports.joined(separator: ",")]
            .joined(separator: "|")
        let digest = SHA256.hash(data: Data(identity.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "d-\(safe)-\(digest)"
    }
}

/// An inclusive port range (`443` or `8000-8080`).
struct PortRange: Equatable, CustomStringConvertible {
    var lower: Int
    var upper: Int

    init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard (1...2).contains(parts.count), let lower = Int(parts[0]), let upper = Int(parts.last ?? ""),
              (0...65535).contains(lower), (0...65535).contains(upper), lower <= upper else { return nil }
        self.lower = lower
        self.upper = upper
    }

    var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }
}

/// An IPv4 or IPv6 network in CIDR notation, normalised (host bits cleared).
public struct CIDR: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]
    public var prefixLength: Int
    public var isIPv6: Bool { bytes.count == 16 }

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        let address = String(parts[0])
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, address, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
        let maximum = bytes.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maximum).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = maximum
        }
        for index in bytes.indices {
            let keep = max(0, min(8, prefixLength - index * 8))
            bytes[index] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
    }

    public var description: String {
        "\(Self.addressText(bytes) ?? "?")/\(prefixLength)"
    }

    /// The text form of a 4- or 16-byte address (inet_ntop), nil for other lengths.
    static func addressText(_ bytes: [UInt8]) -> String? {
        let family = bytes.count == 4 ? AF_INET : bytes.count == 16 ? AF_INET6 : -1
        guard family >= 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { pointer in
            inet_ntop(family, pointer.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
