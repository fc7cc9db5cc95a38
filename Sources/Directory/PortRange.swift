/// A port or an inclusive port range, `443` or `8000-8100`.
public struct PortRange: Sendable, Hashable, CustomStringConvertible, Codable {
    public let lower: Int
    public let upper: Int

    public init(parsing text: String, field: String = "ports") throws {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        func port(_ s: Substring) throws -> Int {
            guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(s), (1...65535).contains(value) else {
                throw InvalidFieldError(field: field, message: "\"\(text.prefix(20))\" is not a port (1-65535) or a range like 8000-8100")
            }
            return value
        }
        guard parts.count <= 2 else {
            throw InvalidFieldError(field: field, message: "\"\(text.prefix(20))\" is not a port (1-65535) or a range like 8000-8100")
        }
        lower = try port(parts[0])
        upper = parts.count == 2 ? try port(parts[1]) : lower
        guard lower <= upper else {
            throw InvalidFieldError(field: field, message: "range \(text) runs backwards; write \(upper)-\(lower)")
        }
    }

    public func contains(_ port: Int) -> Bool { (lower...upper).contains(port) }

    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }

    public init(from decoder: any Decoder) throws {
        self = try PortRange(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
