import Crypto
import X509

/// Random certificate serial numbers and their hex form.
public enum SerialNumbers {
    /// A random, positive serial number of exactly 16 bytes (127 bits of randomness, first bit zero,
    /// second bit one so that no leading byte is dropped).
    public static func random() -> Certificate.SerialNumber {
        var bytes = Array(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) })
        if !bytes.isEmpty {
            bytes[0] = (bytes[0] & 0x7F) | 0x40
        }
        return Certificate.SerialNumber(bytes: bytes)
    }

    /// Lowercase hex of the serial's big-endian bytes, without separators or leading zero bytes,
    /// e.g. `"5f3a…"` (32 digits for Tollgate's serials).
    public static func hex(_ serial: Certificate.SerialNumber) -> String {
        let significant = serial.bytes.drop { $0 == 0 }
        guard !significant.isEmpty else { return "0" }
        return significant.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 0x10 ? "0" + digits : digits
        }.joined()
    }

    /// Parses lowercase or uppercase hex (optionally with `:` separators, as openssl prints them) into a
    /// serial number; returns nil if the text is not hex or longer than 20 bytes.
    public static func parse(hex text: String) -> Certificate.SerialNumber? {
        var digits = text.filter { $0 != ":" }.lowercased()
        guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else { return nil }
        if digits.count % 2 == 1 { digits = "0" + digits }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        let significant = Array(bytes.drop { $0 == 0 })
        guard significant.count <= 20 else { return nil }
        return Certificate.SerialNumber(bytes: significant.isEmpty ? [0] : significant)
    }
}
