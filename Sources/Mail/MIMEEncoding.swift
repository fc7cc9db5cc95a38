import Foundation

/// Quoted-printable (RFC 2045) and encoded-word (RFC 2047) encoders for UTF-8 text.
enum MIMEEncoding {
    /// `text` as quoted-printable lines of at most 76 characters joined with CRLF.
    static func quotedPrintable(_ text: String) -> String {
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        return normalized.split(separator: "\n", omittingEmptySubsequences: false).map { encodeLine(Array($0.utf8)) }
            .joined(separator: "\r\n")
    }

    private static func encodeLine(_ bytes: [UInt8]) -> String {
        var output = ""
        var lineLength = 0
        for (index, byte) in bytes.enumerated() {
            let isLast = index == bytes.count - 1
            let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "="))
                || ((byte == 32 || byte == 9) && !isLast)
                // A leading dot stays literal; SMTP dot-stuffing handles it.
            let token = literal ? String(UnicodeScalar(byte)) : String(format: "=%02X", byte)
            if lineLength + token.count > (isLast ? 76 : 75) {
                output += "=\r\n"
                lineLength = 0
            }
            output += token
            lineLength += token.count
        }
        return output
    }

    /// `value` unchanged when it is printable ASCII, else RFC 2047 `=?UTF-8?B?…?=` words
    /// (each at most 75 characters, folded with CRLF SP, never splitting a character).
    static func encodedWordHeader(_ value: String) -> String {
        if value.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value < 127 }) && !value.contains("=?") { return value }
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in value {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45, !chunk.isEmpty {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }
}
