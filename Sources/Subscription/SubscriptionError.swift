import Directory

/// Why an application could not be taken, shown or decided; says what to do.
public enum SubscriptionError: Error, Sendable, CustomStringConvertible {
    /// A field of the application is invalid (HTTP 400, names the field).
    case invalidField(InvalidFieldError)
    /// The request body is not the JSON object expected.
    case malformedRequest(String)
    /// No application with this ID (or, over HTTP, a wrong token).
    case notFound(String)
    /// The application was approved or rejected already.
    case alreadyDecided(String, state: String)
    /// The review rules file cannot be used.
    case badRules(String, String)
    /// The directory refused or failed; nothing of the tenant was written.
    case directory(String)
    /// The verdict mail could not be written to the spool; nothing was decided.
    case mail(String)

    public var description: String {
        switch self {
        case .invalidField(let error): return error.description
        case .malformedRequest(let why): return "the request is not a valid application: \(why)"
        case .notFound(let id): return "application \(id) does not exist (list them with `tollgate admin application list`)"
        case .alreadyDecided(let id, let state): return "application \(id) is \(state) already; only pending applications can be decided"
        case .badRules(let path, let why): return "review rules \(path): \(why) (see docs/subscription.md for the format)"
        case .directory(let why): return "directory: \(why)"
        case .mail(let why): return "mail spool: \(why) (nothing was decided; fix the spool directory and retry)"
        }
    }

    /// The field concerned, for `{"error":…, "field":…}`.
    public var field: String? {
        if case .invalidField(let error) = self { return error.field }
        return nil
    }
}
