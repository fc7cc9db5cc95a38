/// Input that Tollgate refuses, naming the field and what is wrong with it.
public struct InvalidFieldError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field, e.g. `destination.network`.
    public var field: String
    /// What is wrong and what is expected.
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// Checks shared by the models.
enum Validate {
    /// A non-empty printable name without control characters, at most `maxLength`.
    static func text(_ value: String, field: String, maxLength: Int = 256, allowEmpty: Bool = false) throws {
        if value.isEmpty {
            if allowEmpty { return }
            throw InvalidFieldError(field: field, message: "must not be empty")
        }
        if value.count > maxLength {
            throw InvalidFieldError(field: field, message: "is \(value.count) characters long; at most \(maxLength) allowed")
        }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw InvalidFieldError(field: field, message: "contains a control character")
        }
        if value.first == " " || value.last == " " {
            throw InvalidFieldError(field: field, message: "must not start or end with a space")
        }
    }

    /// An organisation number: 1 to 12 decimal digits, no leading zero.
    static func orgNumber(_ value: String, field: String = "orgNumber") throws {
        guard !value.isEmpty, value.count <= 12, value.allSatisfy({ $0.isASCII && $0.isNumber }), value.first != "0" else {
            throw InvalidFieldError(field: field, message: "\"\(value.prefix(40))\" is not an organisation number (1 to 12 digits, no leading zero)")
        }
    }

    /// A mail address: local@domain in ASCII (what Tollgate's verdict mails can be sent
    /// to), a domain with a dot, no spaces, control characters or `()<>,;:\"[]`.
    static func mail(_ value: String, field: String = "mail") throws {
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        let ok = parts.count == 2 && !parts[0].isEmpty && parts[0].count <= 64
            && parts[1].contains(".") && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
            && parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }
            && parts[0].allSatisfy(\.isASCII)
            && !parts[0].contains(where: { $0.isWhitespace || "()<>,;:\\\"[]".contains($0) || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } })
            && value.count <= 254
        if !ok { throw InvalidFieldError(field: field, message: "\"\(value.prefix(60))\" is not a mail address (name@example.com, ASCII only)") }
    }

    /// One of `allowed` (case-insensitive); returns the canonical spelling.
    static func oneOf(_ value: String, _ allowed: [String], field: String) throws -> String {
        guard let match = allowed.first(where: { $0.caseInsensitiveCompare(value) == .orderedSame }) else {
            throw InvalidFieldError(field: field, message: "\"\(value.prefix(40))\" is not one of \(allowed.joined(separator: ", "))")
        }
        return match
    }
}
