import Foundation
import LDAPClient

/// A subscriber's VPN gateway: `cn=NAME,ou=converters,tgOrgNumber=N,…` (`tgConverter`
/// with `pkiUser` for its certificates).
public struct Converter: DirectoryObject, Hashable {
    public static let states = ["registered", "certified", "up", "degraded", "down", "revoked"]

    /// Name, unique within the tenant (`cn`), e.g. `conv-a`.
    public var name: String
    public var orgNumber: String
    /// Public address (`ipHostNumber`).
    public var address: IPAddress
    public var model: String?
    public var firmware: String?
    /// IKE major versions supported (1, 2).
    public var ikeVersions: [Int]
    /// IKE proposals supported, strongSwan syntax.
    public var ikeProposals: [String]
    /// DN of the Tollgate server that manages it.
    public var assignedServer: String?
    public var state: String
    public var lastSeen: Date?
    public var certificateSerials: [String]
    public var certificateNotAfter: Date?
    public var description: String?

    /// The globally unique converter ID, `<org>-<name>`.
    public var converterId: String { "\(orgNumber)-\(name)" }

    public init(name: String, orgNumber: String, address: IPAddress, model: String? = nil, firmware: String? = nil,
                ikeVersions: [Int] = [2], ikeProposals: [String] = [], state: String = "registered", description: String? = nil) {
        self.name = name
        self.orgNumber = orgNumber
        self.address = address
        self.model = model
        self.firmware = firmware
        self.ikeVersions = ikeVersions
        self.ikeProposals = ikeProposals
        self.state = state
        self.description = description
        self.certificateSerials = []
    }

    public static let objectClasses = ["tgConverter", "pkiUser"]

    public init(entry: LDAPEntry) throws {
        name = try entry.required("cn")
        orgNumber = try entry.required("tgOrgNumber")
        let addressText = entry["ipHostNumber"] ?? ""
        guard let address = IPAddress(addressText) else {
            throw DirectoryError.malformedEntry(entry.dn, "ipHostNumber \"\(addressText)\" is not an IP address")
        }
        self.address = address
        model = entry["tgModel"]
        firmware = entry["tgFirmware"]
        ikeVersions = entry.strings("tgIkeVersion").compactMap { Int($0) }.sorted()
        ikeProposals = entry.strings("tgIkeProposal")
        assignedServer = entry["tgAssignedServer"]
        state = try entry.required("tgState")
        lastSeen = entry.time("tgLastSeen")
        certificateSerials = entry.strings("tgCertificateSerial")
        certificateNotAfter = entry.time("tgCertificateNotAfter")
        description = entry["description"]
    }

    public var attributes: [(String, [String])] {
        [("cn", [name]), ("tgOrgNumber", [orgNumber]), ("tgConverterId", [converterId]),
         ("ipHostNumber", [address.description]), ("tgModel", model.map { [$0] } ?? []),
         ("tgFirmware", firmware.map { [$0] } ?? []), ("tgIkeVersion", ikeVersions.map(String.init)),
         ("tgIkeProposal", ikeProposals), ("tgAssignedServer", assignedServer.map { [$0] } ?? []),
         ("tgState", [state]), ("tgLastSeen", lastSeen.map { [GeneralizedTime.string($0)] } ?? []),
         ("tgCertificateSerial", certificateSerials),
         ("tgCertificateNotAfter", certificateNotAfter.map { [GeneralizedTime.string($0)] } ?? []),
         ("description", description.map { [$0] } ?? [])]
    }

    public func validate() throws {
        try Validate.text(name, field: "converter.name", maxLength: 64)
        try Validate.orgNumber(orgNumber, field: "converter.orgNumber")
        if let model { try Validate.text(model, field: "converter.model", maxLength: 128) }
        if let firmware {
            guard !firmware.isEmpty, firmware.count <= 32,
                  firmware.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isNumber || $0.isLetter || $0 == "-") } }) else {
                throw InvalidFieldError(field: "converter.firmware", message: "\"\(firmware.prefix(40))\" is not a version like 5.9.8")
            }
        }
        guard !ikeVersions.isEmpty else { throw InvalidFieldError(field: "converter.ikeVersions", message: "name at least one IKE version (1 or 2)") }
        for version in ikeVersions where version != 1 && version != 2 {
            throw InvalidFieldError(field: "converter.ikeVersions", message: "IKE version \(version) does not exist; use 1 or 2")
        }
        for proposal in ikeProposals {
            guard !proposal.isEmpty, proposal.count <= 128,
                  proposal.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw InvalidFieldError(field: "converter.ikeProposals", message: "\"\(proposal.prefix(40))\" is not an IKE proposal like aes256-sha256-modp2048")
            }
        }
        _ = try Validate.oneOf(state, Self.states, field: "converter.state")
        if let description { try Validate.text(description, field: "converter.description", maxLength: 1024, allowEmpty: true) }
    }
}
