/// A network in CIDR notation, IPv4 (`10.20.0.0/16`) or IPv6 (`2001:db8::/32`).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible, Codable {
    /// The network address (host bits zero).
    public let address: IPAddress
    /// The prefix length in the address's own family (IPv4: 0–32, IPv6: 0–128).
    public let prefixLength: Int

    /// Parses CIDR text. A bare address means a host route (/32 or /128). Host bits must be
    /// zero: `10.20.3.4/16` is refused with the network it probably meant.
    public init(parsing text: String, field: String = "network") throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else {
            throw InvalidFieldError(field: field, message: "\"\(text.prefix(60))\" is not a network in CIDR notation (e.g. 10.20.0.0/16 or 2001:db8::/32)")
        }
        let maxLength = address.isIPv4 ? 32 : 128
        var length = maxLength
        if parts.count == 2 {
            guard let value = Int(parts[1]), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), (0...maxLength).contains(value) else {
                throw InvalidFieldError(field: field, message: "prefix length \"\(parts[1].prefix(10))\" must be 0 to \(maxLength) for \(address.isIPv4 ? "IPv4" : "IPv6")")
            }
            length = value
        }
        let network = Self.mask(address, length: length)
        if network != address {
            throw InvalidFieldError(field: field, message: "\(text) has host bits set; the network is \(network)/\(length)")
        }
        self.address = network
        self.prefixLength = length
    }

    /// Prefix length counted on the 128-bit (mapped) address.
    var mappedPrefixLength: Int { address.isIPv4 ? prefixLength + 96 : prefixLength }

    private static func mask(_ address: IPAddress, length: Int) -> IPAddress {
        let total = address.isIPv4 ? length + 96 : length
        var bytes = address.bytes
        for i in 0..<16 {
            let bitsHere = max(0, min(8, total - i * 8))
            bytes[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        return IPAddress(bytes: bytes, isIPv4: address.isIPv4)
    }

    /// The first address of the network.
    public var first: IPAddress { address }

    /// The last address of the network.
    public var last: IPAddress {
        let total = mappedPrefixLength
        var bytes = address.bytes
        for i in 0..<16 {
            let bitsHere = max(0, min(8, total - i * 8))
            bytes[i] |= bitsHere == 8 ? 0 : UInt8(truncatingIfNeeded: 0xff >> bitsHere)
        }
        return IPAddress(bytes: bytes, isIPv4: address.isIPv4)
    }

    /// True if `other` lies inside this network (same family).
    public func contains(_ other: IPAddress) -> Bool {
        other.isIPv4 == address.isIPv4 && first <= other && other <= last
    }

    public var description: String { "\(address)/\(prefixLength)" }

    public init(from decoder: any Decoder) throws {
        self = try IPNetwork(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
