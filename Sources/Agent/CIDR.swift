import Foundation

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
        self = masked
    }

    init(bytes: [UInt8], prefixLength: Int) {
        self.bytes = bytes
        self.prefixLength = prefixLength
    }

    public var description: String {
        "\(Self.addressText(bytes) ?? "?")/\(prefixLength)"
    }

    /// Whether `other` lies inside this network (or is it).
    public func contains(_ other: CIDR) -> Bool {
        guard other.bytes.count == bytes.count, other.prefixLength >= prefixLength else { return false }
        return CIDR(bytes: other.bytes, prefixLength: prefixLength).masked == self
    }

    /// Two networks of the same family either nest or are disjoint.
    public func overlaps(_ other: CIDR) -> Bool { contains(other) || other.contains(self) }

    /// This network without `hole`: the networks (at most one per prefix length between
    /// the two) that cover exactly the addresses of `self` not in `hole`.
    public func subtracting(_ hole: CIDR) -> [CIDR] {
        if hole.contains(self) { return [] }
        guard contains(hole) else { return [self] }
        var remaining: [CIDR] = []
        var current = self
        while current.prefixLength < hole.prefixLength {
            let (low, high) = current.halves
            if low.contains(hole) {
                remaining.append(high)
                current = low
            } else {
                remaining.append(low)
                current = high
            }
        }
        return remaining
    }

    /// The two networks one bit longer.
    var halves: (CIDR, CIDR) {
        let length = prefixLength + 1
        var high = bytes
        high[(length - 1) / 8] |= UInt8(0x80) >> UInt8((length - 1) % 8)
        return (CIDR(bytes: bytes, prefixLength: length), CIDR(bytes: high, prefixLength: length))
    }

    /// Host bits cleared.
    var masked: CIDR {
        var copy = self
        for index in copy.bytes.indices {
            let keep = max(0, min(8, prefixLength - index * 8))
            copy.bytes[index] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return copy
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
