import LDAPClient

/// A client organisation (tenant): the `tgSubscriber` entry at
/// `tgOrgNumber=N,ou=subscribers,dc=tollgate`.
public struct Subscriber: DirectoryObject, Hashable {
    public static let billingMethods = ["invoice", "card", "direct-debit"]
    public static let states = ["pending", "active", "suspended"]

    /// Organisation number, the tenant key (digits).
    public var orgNumber: String
    /// Subscriber ID, e.g. `1001-01`.
    public var subscriberId: String
    /// Organisation name (`o`).
    public var name: String
    public var mail: String
    public var billingMethod: String
    public var state: String
    public var description: String?
    /// True when slapd's password policy has locked the account (`pwdAccountLockedTime`).
    public var locked: Bool

    public init(orgNumber: String, subscriberId: String, name: String, mail: String,
                billingMethod: String = "invoice", state: String = "active", description: String? = nil) {
        self.orgNumber = orgNumber
        self.subscriberId = subscriberId
        self.name = name
        self.mail = mail
        self.billingMethod = billingMethod
        self.state = state
        self.description = description
        self.locked = false
    }

    public static let objectClasses = ["tgSubscriber"]
    public static let attributeNames: [String]? = ["*", "pwdAccountLockedTime"]

    public init(entry: LDAPEntry) throws {
        orgNumber = try entry.required("tgOrgNumber")
        subscriberId = try entry.required("tgSubscriberId")
        name = try entry.required("o")
        mail = try entry.required("mail")
        billingMethod = entry["tgBillingMethod"] ?? "invoice"
        state = try entry.required("tgState")
        description = entry["description"]
        locked = entry["pwdAccountLockedTime"] != nil
    }

    public var attributes: [(String, [String])] {
        [("tgOrgNumber", [orgNumber]), ("tgSubscriberId", [subscriberId]), ("o", [name]), ("mail", [mail]),
         ("tgBillingMethod", [billingMethod]), ("tgState", [state]), ("description", description.map { [$0] } ?? [])]
    }

    public func validate() throws {
        try Validate.orgNumber(orgNumber, field: "subscriber.orgNumber")
        try Validate.text(subscriberId, field: "subscriber.subscriberId", maxLength: 64)
        try Validate.text(name, field: "subscriber.name")
        try Validate.mail(mail, field: "subscriber.mail")
        _ = try Validate.oneOf(billingMethod, Self.billingMethods, field: "subscriber.billingMethod")
        _ = try Validate.oneOf(state, Self.states, field: "subscriber.state")
        if let description { try Validate.text(description, field: "subscriber.description", maxLength: 1024, allowEmpty: true) }
    }
}
