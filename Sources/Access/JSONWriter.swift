import Foundation

/// A small JSON text builder for the access API's hot path (no reflection, no
/// intermediate dictionaries). Strings are escaped per RFC 8259.
struct JSONWriter {
    private(set) var text = ""
    /// Whether the next value in the current container needs a comma first.
    private var needsComma = false

    init() { text.reserveCapacity(256) }

    mutating func beginObject() {
        separate()
        text += "{"
        needsComma = false
    }

    mutating func endObject() {
        text += "}"
        needsComma = true
    }

    mutating func beginArray() {
        separate()
        text += "["
        needsComma = false
    }

    mutating func endArray() {
        text += "]"
        needsComma = true
    }

    mutating func key(_ name: String) {
        separate()
        Self.appendQuoted(name, to: &text)
        text += ":"
        needsComma = false
    }

    mutating func string(_ value: String?) {
        separate()
        if let value { Self.appendQuoted(value, to: &text) } else { text += "null" }
        needsComma = true
    }

    mutating func raw(_ json: String) {
        separate()
        text += json
        needsComma = true
    }

    mutating func bool(_ value: Bool) { raw(value ? "true" : "false") }
    mutating func int(_ value: Int) { raw(String(value)) }

    mutating func field(_ name: String, _ value: String?) { key(name); string(value) }
    mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }
    mutating func field(_ name: String, _ value: Int) { key(name); int(value) }

    private mutating func separate() {
        if needsComma { text += "," }
    }

    static func appendQuoted(_ value: String, to text: inout String) {
        text += "\""
        // Most values (addresses, DNs, reasons) need no escaping: append them whole.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c }) {
            text += value
            text += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }

    /// `2026-01-01T00:00:00Z`.
    static func iso8601(_ date: Date) -> String {
        date.ISO8601Format()
    }
}
