/// The IP protocol of an access question or of a destination entry (`tgProtocol`).
///
/// `any` on a destination covers every protocol and port; `any` in a question asks for
/// all traffic to the address (see ``AccessRule/matches(_:)``).
public enum AccessProtocol: String, Sendable, Hashable, CaseIterable, Codable {
    case tcp, udp, icmp, esp, any

    /// Whether ports apply (tcp and udp).
    public var hasPorts: Bool { self == .tcp || self == .udp }
}

/// What a converter asks about one address: protocol and, for tcp/udp, the port.
public struct AccessQuery: Sendable, Hashable {
    public var `protocol`: AccessProtocol
    /// The destination port; nil for "every port" (protocol any, icmp, esp).
    public var port: Int?

    public init(protocol: AccessProtocol, port: Int? = nil) {
        self.protocol = `protocol`
        self.port = `protocol`.hasPorts ? port : nil
    }

    /// `tcp/443`, `udp`, `any`.
    public var description: String {
        if let port { return "\(`protocol`.rawValue)/\(port)" }
        return `protocol`.rawValue
    }
}
