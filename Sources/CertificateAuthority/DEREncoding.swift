import SwiftASN1

/// DER serialisation helper (SwiftASN1's `DER.Serializer.serialized(element:)` is internal).
enum DEREncoding {
    static func encode<T: DERSerializable>(_ element: T) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(element)
        return serializer.serializedBytes
    }
}
