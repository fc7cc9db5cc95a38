import Directory
import Foundation

/// One access question as the API receives it, validated:
/// `{"source":"10.10.1.7","destination":"10.20.3.4","protocol":"tcp","port":443}`.
public struct CheckRequest: Sendable, Hashable {
    /// The client terminal's address, if given (validated, recorded, not used to decide).
    public var source: IPAddress?
    /// The destination as given: an address in canonical form, or a lower-cased DNS name.
    public var destination: String
    /// The address, when the destination is one; nil for a DNS name.
    public var address: IPAddress?
    public var query: AccessQuery

    public init(destination: String, address: IPAddress?, query: AccessQuery, source: IPAddress? = nil) {
        self.destination = destination
        self.address = address
        self.query = query
        self.source = source
    }

    /// The body's fields, each checked for its JSON type (a missing one is nil).
    struct Body {
        var source: String?
        var destination: String?
        var `protocol`: String?
        /// A JSON number; checked to be whole in ``validate(_:prefix:)``.
        var port: Double?

        init(_ value: JSONValue, prefix: String) throws(AccessAPIError) {
            guard case .object(let members) = value else {
                if prefix.isEmpty { throw .malformed("the body must be a JSON object such as {\"destination\":\"10.20.3.4\",\"protocol\":\"tcp\",\"port\":443}") }
                throw .invalid(String(prefix.dropLast()), "\(prefix.dropLast()) must be a JSON object")
            }
            source = try Self.string(members["source"], prefix, "source")
            destination = try Self.string(members["destination"], prefix, "destination")
            self.protocol = try Self.string(members["protocol"], prefix, "protocol")
            switch members["port"] {
            case nil, .null?: port = nil
            case .number(let number)?: port = number
            default: throw .invalid(prefix + "port", "\(prefix)port must be an integer")
            }
        }

        /// The field's name (`prefix` + `name`) is only put together for an error.
        static func string(_ value: JSONValue?, _ prefix: String, _ name: String) throws(AccessAPIError) -> String? {
            switch value {
            case nil, .null?: return nil
            case .string(let text)?: return text
            default: throw .invalid(prefix + name, "\(prefix)\(name) must be a string")
            }
        }
    }

    /// Validates one body; `prefix` names the position in a batch (`checks[3].`).
    static func validate(_ body: Body, prefix: String = "") throws(AccessAPIError) -> CheckRequest {
        guard let text = body.destination.map(trimmed), !text.isEmpty else {
            throw .invalid(prefix + "destination", "give the destination: an IPv4 or IPv6 address or a DNS name")
        }
        var destination = text
        let address = IPAddress(text)
        if let address {
            destination = address.description
        } else if HostResolver.isHostName(text) {
            destination = text.lowercased()
        } else {
            throw .invalid(prefix + "destination", "\"\(text.prefix(80))\" is not an IPv4 or IPv6 address or a DNS name")
        }
        let protocolText = body.protocol?.lowercased() ?? "any"
        guard let proto = AccessProtocol(rawValue: protocolText) else {
            throw .invalid(prefix + "protocol", "\"\(protocolText.prefix(20))\" is not a protocol; use tcp, udp, icmp, esp or any")
        }
        var port: Int?
        if let number = body.port {
            guard number == number.rounded(), abs(number) < 1e9 else {
                throw .invalid(prefix + "port", "port must be an integer from 0 to 65535")
            }
            guard (0...65535).contains(Int(number)) else {
                throw .invalid(prefix + "port", "port \(Int(number)) is out of range; use 0 to 65535")
            }
            port = Int(number)
        }
        if proto.hasPorts && port == nil {
            throw .invalid(prefix + "port", "give the port for \(proto.rawValue) (or use protocol any)")
        }
        var source: IPAddress?
        if let text = body.source {
            guard let parsed = IPAddress(trimmed(text)) else {
                throw .invalid(prefix + "source", "\"\(text.prefix(60))\" is not an IPv4 or IPv6 address")
            }
            source = parsed
        }
        return CheckRequest(destination: destination, address: address, query: AccessQuery(protocol: proto, port: port),
                            source: source)
    }

    /// `text` without leading and trailing spaces and tabs (no Foundation bridging).
    static func trimmed(_ text: String) -> String {
        let utf8 = text.utf8
        guard let first = utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        guard let last = utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        if first == utf8.startIndex && last == utf8.index(before: utf8.endIndex) { return text }
        return String(text[first...last])
    }

    /// Decodes and validates a `POST /v1/access/check` body.
    public static func decode(_ bytes: [UInt8]) throws(AccessAPIError) -> CheckRequest {
        try validate(Body(parse(bytes), prefix: ""))
    }

    /// Decodes and validates a `POST /v1/access/batch` body (at most `limit` checks).
    public static func decodeBatch(_ bytes: [UInt8], limit: Int) throws(AccessAPIError) -> [CheckRequest] {
        guard case .object(let members) = try parse(bytes), case .array(let checks)? = members["checks"] else {
            throw .invalid("checks", "give {\"checks\":[…]} with 1 to \(limit) check requests")
        }
        guard checks.count <= limit else {
            throw .invalid("checks", "\(checks.count) checks in one batch; at most \(limit) are allowed")
        }
        var requests: [CheckRequest] = []
        requests.reserveCapacity(checks.count)
        for (index, check) in checks.enumerated() {
            let prefix = "checks[\(index)]."
            requests.append(try validate(Body(check, prefix: prefix), prefix: prefix))
        }
        return requests
    }

    private static func parse(_ bytes: [UInt8]) throws(AccessAPIError) -> JSONValue {
        do throws(JSONValue.SyntaxError) {
            return try JSONValue.parse(bytes)
        } catch {
            throw .malformed("the body is not valid JSON: \(error)")
        }
    }
}
