/// An error reported by the LDAP server or by libldap, with the server's own words.
///
/// `diagnosticMessage` carries slapd's diagnostic text (e.g. "object class 'tgConverter'
/// requires attribute 'tgConverterId'"); ``recoverySuggestion`` says what to do about it.
public struct LDAPError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The result code.
    public var code: LDAPResultCode
    /// The operation that failed, e.g. `add cn=conv-a,ou=converters,…`.
    public var operation: String
    /// The server's (or libldap's) diagnostic message; may be empty.
    public var diagnosticMessage: String
    /// The matched DN the server returned for name errors; may be empty.
    public var matchedDN: String

    public init(code: LDAPResultCode, operation: String, diagnosticMessage: String = "", matchedDN: String = "") {
        self.code = code
        self.operation = operation
        self.diagnosticMessage = diagnosticMessage
        self.matchedDN = matchedDN
    }

    /// A hint for operators on how to resolve the error.
    public var recoverySuggestion: String {
        switch code {
        case .invalidCredentials: return "check the bind DN and password (the account may also be locked)"
        case .insufficientAccessRights: return "the bound identity is not allowed to do this by the slapd ACLs"
        case .noSuchObject: return "the entry or one of its parents does not exist"
        case .entryAlreadyExists: return "an entry with that name exists already; choose another name or modify it"
        case .objectClassViolation, .undefinedAttributeType, .invalidAttributeSyntax, .constraintViolation:
            return "the entry does not satisfy the directory schema; fix the named attribute"
        case .serverDown, .connectError: return "is slapd running and reachable at the configured URL?"
        case .timeout, .timeLimitExceeded: return "the server did not answer in time; check its load"
        case .unwillingToPerform: return "the server refused the operation (read-only database or policy)"
        case .notAllowedOnNonLeaf: return "remove the entry's children first (or use a subtree delete)"
        default: return "see the server's diagnostic message"
        }
    }

    public var description: String {
        var text = "LDAP \(operation) failed: \(code)"
        if !diagnosticMessage.isEmpty { text += ": \(diagnosticMessage)" }
        if !matchedDN.isEmpty { text += " [matched \(matchedDN)]" }
        return text + " — \(recoverySuggestion)"
    }
}
