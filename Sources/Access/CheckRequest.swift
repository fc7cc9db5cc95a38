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

    /// The body fields, all optional so that each missing or wrong one gets its own message.
    struct Body: Decodable {
        var source: String?
        var destination: String?
        var `protocol`: String?
        /// Decoded as a number and checked to be whole here (a fraction would otherwise
        /// make the decoder report the whole body as invalid JSON).
        var port: Double?
    }

    struct Batch: Decodable {
        var checks: [Body]?
    }

    /// Validates one body; `prefix` names the position in a batch (`checks[3].`).
    static func validate(_ body: Body, prefix: String = "") throws(AccessAPIError) -> CheckRequest {
        guard let text = body.destination?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
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
            guard let parsed = IPAddress(text.trimmingCharacters(in: .whitespaces)) else {
                throw .invalid(prefix + "source", "\"\(text.prefix(60))\" is not an IPv4 or IPv6 address")
            }
            source = parsed
        }
        return CheckRequest(destination: destination, address: address, query: AccessQuery(protocol: proto, port: port),
                            source: source)
    }

    /// Decodes and validates a `POST /v1/access/check` body.
    public static func decode(_ bytes: [UInt8]) throws(AccessAPIError) -> CheckRequest {
        try validate(decodeJSON(Body.self, bytes))
    }

    /// Decodes and validates a `POST /v1/access/batch` body (at most `limit` checks).
    public static func decodeBatch(_ bytes: [UInt8], limit: Int) throws(AccessAPIError) -> [CheckRequest] {
        guard let checks = try decodeJSON(Batch.self, bytes).checks else {
            throw .invalid("checks", "give {\"checks\":[…]} with 1 to \(limit) check requests")
        }
        guard checks.count <= limit else {
            throw .invalid("checks", "\(checks.count) checks in one batch; at most \(limit) are allowed")
        }
        var requests: [CheckRequest] = []
        requests.reserveCapacity(checks.count)
        for (index, body) in checks.enumerated() { requests.append(try validate(body, prefix: "checks[\(index)].")) }
        return requests
    }

    private static func decodeJSON<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws(AccessAPIError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            switch error {
            case .typeMismatch(let expected, let context), .valueNotFound(let expected, let context):
                let field = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                    .replacingOccurrences(of: ".[", with: "[").trimmingCharacters(in: CharacterSet(charactersIn: "."))
                if field.isEmpty { throw .malformed("the body must be a JSON object") }
                let what = expected == Double.self ? "an integer" : expected == String.self ? "a string" : "\(expected)"
                throw .invalid(field, "\(field) must be \(what)")
            case .dataCorrupted(let context):
                if !context.codingPath.isEmpty {
                    let field = context.codingPath.map(\.stringValue).joined(separator: ".")
                    throw .invalid(field, "\(field): \(context.debugDescription)")
                }
                throw .malformed("the body is not valid JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)")
            default:
                throw .malformed("the body is not valid JSON: \(error)")
            }
        } catch {
            throw .malformed("the body is not valid JSON: \(error)")
        }
    }
}
