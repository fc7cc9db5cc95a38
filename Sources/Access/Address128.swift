import Directory

/// An address as one 128-bit number (IPv4 mapped into ::ffff:0:0/96), for masking and
/// hashing in the replica's prefix tables.
struct Address128: Hashable, Sendable {
    var high: UInt64
    var low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(_ address: IPAddress) {
        var high: UInt64 = 0, low: UInt64 = 0
        let bytes = address.bytes
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        self.init(high: high, low: low)
    }

    /// The address with all but the first `bits` (0–128) bits cleared.
    func masked(_ bits: Int) -> Address128 {
        if bits >= 128 { return self }
        if bits <= 0 { return Address128(high: 0, low: 0) }
        if bits >= 64 {
            let keep = bits - 64
            return Address128(high: high, low: keep == 0 ? 0 : low & ~(UInt64.max >> UInt64(keep)))
        }
        return Address128(high: high & ~(UInt64.max >> UInt64(bits)), low: 0)
    }
}
