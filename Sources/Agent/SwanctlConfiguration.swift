import Foundation
import X509

/// How `run` drives the local strongSwan (flags of `run`).
public struct StrongSwanSettings: Sendable, Equatable {
    /// The swanctl binary.
    public var swanctl: String
    /// charon's VICI socket (a path); nil: swanctl's default.
    public var viciSocket: String?
    /// The swanctl directory the agent writes into: `conf.d/tollgate.conf` and credentials
    /// in `x509/`, `x509ca/`, `private/`; `swanctl.conf` (including `conf.d/*.conf`) is
    /// created when missing.
    public var swanctlDirectory: String
    /// The IKE connection's name.
    public var connectionName: String
    /// The IPsec peer (gateway) and its IKE identity (default: its address).
    public var peerAddress: String
    public var peerID: String?
    /// Local IKE address (default `%any`) and identity (default: the certificate's first IP
    /// address, else its subject DN).
    public var localAddress: String?
    public var localID: String?
    /// Local traffic selectors (default `dynamic`: this host's address).
    public var localTS: [String]
    /// Initiate the planned children (true) or only load them and let the peer initiate.
    public var initiate: Bool
    public var ikeProposals: [String]
    public var espProposals: [String]
    /// `remote.revocation`: relaxed, ifuri or strict.
    public var revocation: String
    /// Seconds `swanctl --initiate`/`--terminate` may take.
    public var timeout: Int

    public init(swanctl: String = "/usr/sbin/swanctl", viciSocket: String? = nil, swanctlDirectory: String,
                connectionName: String = "tollgate", peerAddress: String, peerID: String? = nil, localAddress: String? = nil,
                localID: String? = nil, localTS: [String] = ["dynamic"], initiate: Bool = true,
                ikeProposals: [String] = ["default"], espProposals: [String] = ["default"], revocation: String = "relaxed",
                timeout: Int = 15) {
        self.swanctl = swanctl
        self.viciSocket = viciSocket
        self.swanctlDirectory = swanctlDirectory
        self.connectionName = connectionName
        self.peerAddress = peerAddress
        self.peerID = peerID
        self.localAddress = localAddress
        self.localID = localID
        self.localTS = localTS
        self.initiate = initiate
        self.ikeProposals = ikeProposals
        self.espProposals = espProposals
        self.revocation = revocation
        self.timeout = timeout
    }

    public var configFile: String { swanctlDirectory + "/conf.d/\(connectionName).conf" }
    public var mainConfigFile: String { swanctlDirectory + "/swanctl.conf" }
    var certificateName: String { "\(connectionName)-agent.pem" }
    var keyName: String { "\(connectionName)-agent.key" }
    var rootName: String { "\(connectionName)-root.pem" }
    func issuingName(_ index: Int) -> String { "\(connectionName)-issuing\(index == 0 ? "" : "-\(index)").pem" }
}

/// Renders the agent's part of swanctl.conf and installs its credentials.
public enum SwanctlConfiguration {
    /// The agent's IKE connection for `plan` as a VICI `load-conn` section, with credential
    /// file names in `certs`/`cacerts` (``withCredentialData(_:settings:)`` replaces them
    /// with the files' contents, as swanctl does); nil when no child is planned (nothing to
    /// negotiate: the connection is unloaded).
    public static func connection(_ plan: TunnelPlan, settings: StrongSwanSettings, certificate: AgentCertificate) -> VICIMessage.Element? {
        guard !plan.children.isEmpty else { return nil }
        let localID = settings.localID ?? certificate.ipAddresses.first ?? asn1Order(certificate.certificate.subject)
        let children = plan.children.map { child in
            VICIMessage.Element.section(child.name, [
                VICIMessage.list("local_ts", settings.localTS),
                VICIMessage.list("remote_ts", child.remoteTS),
                VICIMessage.list("esp_proposals", settings.espProposals),
                VICIMessage.value("mode", "tunnel"),
                VICIMessage.value("start_action", "none"),
                VICIMessage.value("close_action", "none"),
                VICIMessage.value("dpd_action", "clear"),
            ])
        }
        return .section(settings.connectionName, [
            VICIMessage.value("version", "2"),
            VICIMessage.list("local_addrs", [settings.localAddress ?? "%any"]),
            VICIMessage.list("remote_addrs", [settings.peerAddress]),
            VICIMessage.list("proposals", settings.ikeProposals),
            VICIMessage.value("unique", "replace"),
            VICIMessage.value("dpd_delay", "30s"),
            .section("local", [
                VICIMessage.value("auth", "pubkey"),
                VICIMessage.list("certs", [settings.certificateName]),
                VICIMessage.value("id", localID),
            ]),
            .section("remote", [
                VICIMessage.value("auth", "pubkey"),
                VICIMessage.value("id", settings.peerID ?? settings.peerAddress),
                VICIMessage.list("cacerts", [settings.rootName]),
                VICIMessage.value("revocation", settings.revocation),
            ]),
            .section("children", children),
        ])
    }

    /// `connection` with the `certs` (from `x509/`) and `cacerts` (from `x509ca/`) file
    /// names replaced by the files' contents, for `load-conn`.
    static func withCredentialData(_ connection: VICIMessage.Element, settings: StrongSwanSettings) throws(AgentError) -> VICIMessage.Element {
        switch connection {
        case .list(let name, let items) where name == "certs" || name == "cacerts":
            var data: [[UInt8]] = []
            for item in items {
                let file = settings.swanctlDirectory + (name == "certs" ? "/x509/" : "/x509ca/") + String(decoding: item, as: UTF8.self)
                data.append(Array(try AgentDirectory.read(file).utf8))
            }
            return .list(name, data)
        case .section(let name, let children):
            var converted: [VICIMessage.Element] = []
            for child in children { converted.append(try withCredentialData(child, settings: settings)) }
            return .section(name, converted)
        default:
            return connection
        }
    }

    /// `conf.d/<connection>.conf` for `plan`: the same connection in swanctl.conf syntax,
    /// for operators to read (the agent loads it over VICI, not from this file); no
    /// children → no connection at all.
    public static func render(_ plan: TunnelPlan, settings: StrongSwanSettings, certificate: AgentCertificate,
                              comment: String) -> String {
        var lines = ["# Generated by tollgate-agent: \(comment.replacingOccurrences(of: "\n", with: " "))",
                     "# Rewritten on every policy change; edit the destinations in Tollgate, not this file.",
                     "# The agent loads this connection over VICI; other connections of charon are left alone.",
                     "connections {"]
        if let connection = connection(plan, settings: settings, certificate: certificate) {
            let comments = Dictionary(plan.children.map { ($0.name, $0.destinationDN) }, uniquingKeysWith: { a, _ in a })
            render(connection, depth: 1, comments: comments, into: &lines)
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func render(_ element: VICIMessage.Element, depth: Int, comments: [String: String], into lines: inout [String]) {
        let indent = String(repeating: "  ", count: depth)
        switch element {
        case .value(let name, let bytes):
            lines.append("\(indent)\(name) = \(quote(String(decoding: bytes, as: UTF8.self)))")
        case .list(let name, let items):
            lines.append("\(indent)\(name) = \(items.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ","))")
        case .section(let name, let children):
            lines.append("\(indent)\(name) {")
            if let comment = comments[name] { lines.append("\(indent)  # \(comment.replacingOccurrences(of: "\n", with: " "))") }
            for child in children { render(child, depth: depth + 1, comments: comments, into: &lines) }
            lines.append("\(indent)}")
        }
    }

    /// Writes certificate, key (0600) and CA certificates into the swanctl directory and
    /// creates `swanctl.conf` (`include conf.d/*.conf`) if there is none.
    public static func installCredentials(settings: StrongSwanSettings, identity: AgentIdentity) throws(AgentError) {
        let base = settings.swanctlDirectory
        try AgentDirectory.makeDirectory(base, mode: 0o700)
        for sub in ["conf.d", "x509", "x509ca"] { try AgentDirectory.makeDirectory(base + "/" + sub, mode: 0o755) }
        try AgentDirectory.makeDirectory(base + "/private", mode: 0o700)
        try AgentDirectory.writeAtomically(Data(identity.certificate.pem.utf8), to: base + "/x509/" + settings.certificateName, mode: 0o644)
        try AgentDirectory.writeAtomically(Data(identity.key.pem.utf8), to: base + "/private/" + settings.keyName, mode: 0o600)
        try AgentDirectory.writeAtomically(Data(try CABundle.pem(identity.ca.root).utf8), to: base + "/x509ca/" + settings.rootName, mode: 0o644)
        for (index, issuing) in identity.ca.issuing.enumerated() {
            try AgentDirectory.writeAtomically(Data(try CABundle.pem(issuing).utf8), to: base + "/x509ca/" + settings.issuingName(index), mode: 0o644)
        }
        if !FileManager.default.fileExists(atPath: settings.mainConfigFile) {
            try AgentDirectory.writeAtomically(Data("# Created by tollgate-agent.\ninclude conf.d/*.conf\n".utf8),
                                               to: settings.mainConfigFile, mode: 0o644)
        }
    }

    /// A DN in strongSwan's notation: ASN.1 order, `, `-separated (`O=…, OU=…, CN=…`).
    static func asn1Order(_ name: DistinguishedName) -> String {
        name.map { rdn in rdn.map { "\(shortName($0.type))=\($0.value)" }.joined(separator: "+") }.joined(separator: ", ")
    }

    static func shortName(_ type: SwiftASN1.ASN1ObjectIdentifier) -> String {
        switch type {
        case .RDNAttributeType.commonName: "CN"
        case .RDNAttributeType.organizationalUnitName: "OU"
        case .RDNAttributeType.organizationName: "O"
        case .RDNAttributeType.countryName: "C"
        default: type.description
        }
    }

    /// Quotes a value for swanctl.conf when it holds anything but plain characters.
    static func quote(_ value: String) -> String {
        if !value.isEmpty, value.allSatisfy({ $0.isLetter || $0.isNumber || ".:-_%/@".contains($0) }) { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

import SwiftASN1
