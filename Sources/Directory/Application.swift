import Foundation
import LDAPClient

/// A subscription application: the `tgApplication` entry at
/// `tgApplicationId=ID,ou=applications,dc=tollgate`.
///
/// Requested converters and destinations are kept as JSON values
/// (`tgRequestedConverter`, `tgRequestedDestination`) until approval turns them into
/// real entries under the new tenant.
public struct Application: DirectoryObject, Hashable {
    public static let states = ["pending", "approved", "rejected"]

    /// A converter as requested by the applicant.
    public struct RequestedConverter: Codable, Sendable, Hashable {
        public var name: String
        public var address: String
        public var model: String
        public var firmware: String
        public var ikeVersions: [Int]
        public var ikeProposals: [String]

        public init(name: String, address: String, model: String, firmware: String, ikeVersions: [Int], ikeProposals: [String]) {
            self.name = name
            self.address = address
            self.model = model
            self.firmware = firmware
            self.ikeVersions = ikeVersions
            self.ikeProposals = ikeProposals
        }

        /// The converter entry this request becomes for tenant `orgNumber`.
        public func converter(orgNumber: String) throws -> Converter {
            guard let ip = IPAddress(address) else {
                throw InvalidFieldError(field: "converter.address", message: "\"\(address.prefix(60))\" is not an IP address")
            }
            return Converter(name: name, orgNumber: orgNumber, address: ip, model: model, firmware: firmware,
                             ikeVersions: ikeVersions.sorted(), ikeProposals: ikeProposals)
        }
    }

    /// A destination as requested by the applicant.
    public struct RequestedDestination: Codable, Sendable, Hashable {
        public var network: String
        public var `protocol`: String
        public var ports: [String]

        public init(network: String, protocol: String, ports: [String] = []) {
            self.network = network
            self.protocol = `protocol`
            self.ports = ports
        }

        /// The destination entry this request becomes for tenant `orgNumber`.
        public func destination(orgNumber: String) throws -> Destination {
            let net = try IPNetwork(parsing: network, field: "destination.network")
            let ranges = try ports.map { try PortRange(parsing: $0, field: "destination.ports") }
            return Destination(orgNumber: orgNumber, network: net, protocol: `protocol`, ports: ranges)
        }
    }

    public var id: String
    /// Organisation name (`o`).
    public var name: String
    public var mail: String
    public var billingMethod: String
    public var state: String
    public var converters: [RequestedConverter]
    public var destinations: [RequestedDestination]
    public var verdictReason: String?
    /// The organisation number issued on approval.
    public var orgNumber: String?
    /// Salted hash of the status token (never the token).
    public var statusTokenHash: String?
    /// When the application was received.
    public var received: Date

    public init(id: String, name: String, mail: String, billingMethod: String, state: String = "pending",
                converters: [RequestedConverter], destinations: [RequestedDestination], verdictReason: String? = nil,
                orgNumber: String? = nil, statusTokenHash: String? = nil, received: Date = Date()) {
        self.id = id
        self.name = name
        self.mail = mail
        self.billingMethod = billingMethod
        self.state = state
        self.converters = converters
        self.destinations = destinations
        self.verdictReason = verdictReason
        self.orgNumber = orgNumber
        self.statusTokenHash = statusTokenHash
        self.received = received
    }

    public static let objectClasses = ["tgApplication"]

    public init(entry: LDAPEntry) throws {
        id = try entry.required("tgApplicationId")
        name = try entry.required("o")
        mail = try entry.required("mail")
        billingMethod = entry["tgBillingMethod"] ?? "invoice"
        state = try entry.required("tgState")
        let decoder = JSONDecoder()
        do {
            converters = try entry.strings("tgRequestedConverter").map { try decoder.decode(RequestedConverter.self, from: Data($0.utf8)) }
            destinations = try entry.strings("tgRequestedDestination").map { try decoder.decode(RequestedDestination.self, from: Data($0.utf8)) }
        } catch {
            throw DirectoryError.malformedEntry(entry.dn, "a requested converter or destination is not valid JSON: \(error)")
        }
        verdictReason = entry["tgVerdictReason"]
        orgNumber = entry["tgOrgNumber"]
        statusTokenHash = entry["tgStatusTokenHash"]
        received = entry.time("tgEventTime") ?? Date(timeIntervalSince1970: 0)
    }

    public var attributes: [(String, [String])] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json: (any Encodable) -> String = { (try? encoder.encode($0)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}" }
        return [("tgApplicationId", [id]), ("o", [name]), ("mail", [mail]), ("tgBillingMethod", [billingMethod]),
                ("tgState", [state]), ("tgRequestedConverter", converters.map(json)),
                ("tgRequestedDestination", destinations.map(json)),
                ("tgVerdictReason", verdictReason.map { [$0] } ?? []), ("tgOrgNumber", orgNumber.map { [$0] } ?? []),
                ("tgStatusTokenHash", statusTokenHash.map { [$0] } ?? []),
                ("tgEventTime", [GeneralizedTime.string(received)])]
    }

    /// Checks every field, naming the first bad one (`application.name`,
    /// `converters[1].firmware`, `destinations[0].network`, …).
    public func validate() throws {
        try Validate.text(id, field: "application.id", maxLength: 64)
        try Validate.text(name, field: "name")
        try Validate.mail(mail, field: "mail")
        _ = try Validate.oneOf(billingMethod, Subscriber.billingMethods, field: "billingMethod")
        _ = try Validate.oneOf(state, Self.states, field: "application.state")
        guard !converters.isEmpty else { throw InvalidFieldError(field: "converters", message: "name at least one converter") }
        guard !destinations.isEmpty else { throw InvalidFieldError(field: "destinations", message: "name at least one destination") }
        var names = Set<String>()
        for (index, requested) in converters.enumerated() {
            try Self.renaming("converters[\(index)]", "converter") {
                try Validate.text(requested.model, field: "converter.model", maxLength: 128)
                try requested.converter(orgNumber: "1").validate()
            }
            guard names.insert(requested.name.lowercased()).inserted else {
                throw InvalidFieldError(field: "converters[\(index)].name", message: "\"\(requested.name.prefix(40))\" is named twice")
            }
        }
        for (index, requested) in destinations.enumerated() {
            try Self.renaming("destinations[\(index)]", "destination") { try requested.destination(orgNumber: "1").validate() }
        }
    }

    /// Every invalid field, not only the first (for a form that marks each one): the same
    /// checks as ``validate()``, repeated with each field found invalid replaced by a valid
    /// stand-in until the application passes. At most `limit` problems; a field is named
    /// once.
    public func problems(limit: Int = 100) -> [InvalidFieldError] {
        var copy = self
        var found: [InvalidFieldError] = []
        while found.count < limit {
            do {
                try copy.validate()
                return found
            } catch let error as InvalidFieldError {
                if found.contains(where: { $0.field == error.field }) { return found }
                found.append(error)
                guard copy.substitute(error.field, index: found.count) else { return found }
            } catch {
                found.append(InvalidFieldError(field: "application", message: "\(error)"))
                return found
            }
        }
        return found
    }

    /// Replaces the value of `field` (a path such as `converters[1].firmware`) with a valid
    /// stand-in; false when the field is not one the applicant fills in.
    private mutating func substitute(_ field: String, index: Int) -> Bool {
        let unique = "standin-\(index)"
        switch field {
        case "name": name = unique
        case "mail": mail = "standin@example.com"
        case "billingMethod": billingMethod = Subscriber.billingMethods[0]
        case "converters": converters = [RequestedConverter(name: unique, address: "192.0.2.1", model: "standin", firmware: "1",
                                                            ikeVersions: [2], ikeProposals: [])]
        case "destinations": destinations = [RequestedDestination(network: "192.0.2.0/24", protocol: "any")]
        default:
            let parts = field.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let open = parts[0].firstIndex(of: "["), parts[0].hasSuffix("]"),
                  let i = Int(parts[0][parts[0].index(after: open)..<parts[0].index(before: parts[0].endIndex)]) else { return false }
            switch (parts[0][..<open], parts[1]) {
            case ("converters", let key) where i < converters.count:
                switch key {
                case "name": converters[i].name = unique
                case "address": converters[i].address = "192.0.2.1"
                case "model": converters[i].model = "standin"
                case "firmware": converters[i].firmware = "1"
                case "ikeVersions": converters[i].ikeVersions = [2]
                case "ikeProposals": converters[i].ikeProposals = []
                default: return false
                }
            case ("destinations", let key) where i < destinations.count:
                switch key {
                case "network": destinations[i].network = "192.0.2.0/24"
                case "protocol": destinations[i].protocol = "tcp"
                case "ports": destinations[i].ports = []
                default: return false
                }
            default: return false
            }
        }
        return true
    }

    /// Runs `body`, rewriting `model.field` in its error to `prefix.field`.
    private static func renaming(_ prefix: String, _ model: String, _ body: () throws -> Void) throws {
        do { try body() } catch var error as InvalidFieldError {
            if error.field.hasPrefix(model + ".") { error.field = prefix + error.field.dropFirst(model.count) }
            throw error
        }
    }
}
