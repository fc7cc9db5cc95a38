import Foundation

/// LDAP GeneralizedTime (`20261125134500Z`) to and from `Date`, always UTC.
public enum GeneralizedTime {
    public static func string(_ date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC") ?? .current, from: date)
        func pad(_ v: Int?, _ width: Int) -> String {
            let s = String(v ?? 0)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2) + pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2) + "Z"
    }

    /// Parses `YYYYMMDDHHMMSS[.fff]Z`; nil for other forms.
    public static func date(_ text: String) -> Date? {
        let digits = text.prefix(14)
        guard text.hasSuffix("Z"), digits.count == 14, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        func part(_ from: Int, _ length: Int) -> Int {
            let start = digits.index(digits.startIndex, offsetBy: from)
            return Int(digits[start..<digits.index(start, offsetBy: length)]) ?? 0
        }
        var components = DateComponents()
        components.timeZone = TimeZone(identifier: "UTC")
        components.year = part(0, 4); components.month = part(4, 2); components.day = part(6, 2)
        components.hour = part(8, 2); components.minute = part(10, 2); components.second = part(12, 2)
        guard let month = components.month, (1...12).contains(month),
              let day = components.day, (1...31).contains(day) else { return nil }
        return Calendar(identifier: .gregorian).date(from: components)
    }

    /// Parses an operator-typed time: GeneralizedTime, `YYYY-MM-DD` or ISO 8601.
    public static func parse(_ text: String, field: String) throws -> Date {
        if let date = date(text) { return date }
        let iso = ISO8601DateFormatter()
        if let date = iso.date(from: text) { return date }
        iso.formatOptions = [.withFullDate]
        if let date = iso.date(from: text) { return date }
        throw InvalidFieldError(field: field, message: "\"\(text.prefix(40))\" is not a time (20261231235959Z, 2026-12-31 or 2026-12-31T23:59:59Z)")
    }
}
