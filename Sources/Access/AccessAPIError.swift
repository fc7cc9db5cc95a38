import Hummingbird

/// A refused access API request: HTTP status, a stable code, a message saying what to
/// do, and the JSON field at fault (if one is).
public struct AccessAPIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(status.code) \(code): \(message)" + (field.map { " (field \($0))" } ?? "") }

    static func invalid(_ field: String, _ message: String) -> AccessAPIError {
        AccessAPIError(.badRequest, "invalid-field", message, field: field)
    }

    static func malformed(_ message: String) -> AccessAPIError {
        AccessAPIError(.badRequest, "malformed-json", message)
    }

    static func unauthorized(_ message: String) -> AccessAPIError {
        AccessAPIError(.unauthorized, "unauthorized", message)
    }

    static func forbidden(_ message: String) -> AccessAPIError {
        AccessAPIError(.forbidden, "forbidden", message)
    }

    static func unavailable(_ message: String) -> AccessAPIError {
        AccessAPIError(.serviceUnavailable, "directory-unavailable", message)
    }

    /// The JSON body: `{"error":…,"message":…,"field":…}` (503 also says `"allow":false`).
    var json: String {
        var json = JSONWriter()
        json.beginObject()
            if status == .serviceUnavailable { json.field("allow", false) }
            json.field("error", code)
            json.field("message", message)
            json.field("field", field)
        json.endObject()
        return json.text
    }
}
