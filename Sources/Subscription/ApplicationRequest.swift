import Directory
import Foundation

/// The JSON body of `POST /v1/applications` (see docs/subscription.md).
public struct ApplicationRequest: Codable, Sendable, Hashable {
    /// A requested converter: the same fields the application entry keeps.
    public typealias ConverterRequest = Application.RequestedConverter

    public struct DestinationRequest: Codable, Sendable, Hashable {
        public var network: String
        public var `protocol`: String
        /// Ports or ranges ("443", "8000-8100"); empty or absent: every port.
        public var ports: [String]?

        public init(network: String, protocol: String, ports: [String]? = nil) {
            self.network = network
            self.protocol = `protocol`
            self.ports = ports
        }
    }

    public var organisation: String
    public var mail: String
    public var billingMethod: String
    public var converters: [ConverterRequest]
    public var destinations: [DestinationRequest]

    public init(organisation: String, mail: String, billingMethod: String, converters: [ConverterRequest],
                destinations: [DestinationRequest]) {
        self.organisation = organisation
        self.mail = mail
        self.billingMethod = billingMethod
        self.converters = converters
        self.destinations = destinations
    }

    /// Decodes a body, naming the field that is missing or of the wrong type.
    public static func decode(_ body: Data) throws(SubscriptionError) -> ApplicationRequest {
        do {
            return try JSONDecoder().decode(ApplicationRequest.self, from: body)
        } catch let DecodingError.keyNotFound(key, context) {
            throw .invalidField(InvalidFieldError(field: path(context.codingPath + [key]), message: "is missing"))
        } catch let DecodingError.typeMismatch(type, context) {
            throw .invalidField(InvalidFieldError(field: path(context.codingPath), message: "must be \(typeName(type))"))
        } catch let DecodingError.valueNotFound(type, context) {
            throw .invalidField(InvalidFieldError(field: path(context.codingPath), message: "must be \(typeName(type)), not null"))
        } catch {
            throw .malformedRequest("the body is not a JSON object")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce("") { text, key in
            if let index = key.intValue { return text + "[\(index)]" }
            return text.isEmpty ? key.stringValue : text + "." + key.stringValue
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type: return "a number"
        default: return type == [Int].self || type == [String].self ? "an array" : "\(type)"
        }
    }

    /// Every invalid field (the same rules as ``application(id:tokenHash:received:)``),
    /// named as in the JSON body (`organisation`, `converters[1].firmware`, …); empty when
    /// the request is valid. The web form shows each next to its field.
    public func problems() -> [InvalidFieldError] {
        draft(id: "app-0", tokenHash: "", received: Date()).problems().map {
            $0.field == "name" ? InvalidFieldError(field: "organisation", message: $0.message) : $0
        }
    }

    func draft(id: String, tokenHash: String, received: Date) -> Application {
        Application(
            id: id, name: organisation, mail: mail, billingMethod: billingMethod.lowercased(),
            converters: converters,
            destinations: destinations.map { .init(network: $0.network, protocol: $0.protocol.lowercased(), ports: $0.ports ?? []) },
            statusTokenHash: tokenHash, received: received)
    }

    /// The application entry this request becomes (validated, state pending).
    public func application(id: String, tokenHash: String, received: Date = Date()) throws(SubscriptionError) -> Application {
        let application = draft(id: id, tokenHash: tokenHash, received: received)
        do {
            try application.validate()
        } catch let error as InvalidFieldError {
            throw .invalidField(error.field == "name" ? InvalidFieldError(field: "organisation", message: error.message) : error)
        } catch {
            throw .malformedRequest("\(error)")
        }
        return application
    }
}
