import Foundation
import X509

/// How the agent decides to trust Tollgate's CA on first contact.
public enum FirstContactTrust: Sendable, Equatable {
    /// `--ca-file`: TLS is verified against these certificates and the server's root must be one of them.
    case caFile(String)
    /// `--ca-fingerprint`: the root's SHA-256 fingerprint must be this (hex, colons optional).
    case fingerprint(String)
    /// `--insecure-first-contact`: trust whatever root the server presents, and print its fingerprint.
    case insecureFirstContact
}

/// Everything the agent holds after enrolment: settings, key, certificate and CA.
public struct AgentIdentity: Sendable {
    public var settings: AgentSettings
    public var key: AgentKey
    public var certificate: AgentCertificate
    public var ca: CABundle

    /// Loads an enrolled directory (finishing a renewal a crash interrupted) and checks that
    /// the key matches the certificate.
    public static func load(_ directory: AgentDirectory) throws(AgentError) -> AgentIdentity {
        try directory.requireEnrolled()
        try Enrollment.recoverInterruptedRenewal(directory)
        let identity = AgentIdentity(settings: try AgentSettings.load(from: directory), key: try AgentKey.load(directory.keyFile),
                                     certificate: try AgentCertificate.load(directory.certificateFile),
                                     ca: try CABundle.load(directory.caFile))
        guard identity.key.matches(identity.certificate.certificate) else {
            throw .localFiles("\(directory.keyFile) does not match \(directory.certificateFile): restore both from a backup or enrol again with --force")
        }
        return identity
    }

    public func endpoint() throws(AgentError) -> ServerEndpoint { try ServerEndpoint(url: settings.server) }

    /// An HTTPS client that verifies the server against the CA and presents this certificate.
    public func mutualTLSClient() throws(AgentError) -> HTTPSClient {
        try HTTPSClient(endpoint: endpoint(), tls: certificate.tlsSettings(key: key, ca: ca))
    }
}

/// First enrolment and renewal.
public enum Enrollment {
    /// What `enroll` needs.
    public struct Request: Sendable {
        public var server: String
        public var converter: String
        public var subscriberId: String
        public var signature: String
        public var trust: FirstContactTrust
        public var keyType: AgentKeyType
        /// How long to keep retrying while the server answers 202 (subscription under review); 0: give up at once.
        public var waitPending: Duration
        /// Enrol again even if the directory already holds an enrolment.
        public var force: Bool

        public init(server: String, converter: String, subscriberId: String, signature: String, trust: FirstContactTrust,
                    keyType: AgentKeyType = .p256, waitPending: Duration = .zero, force: Bool = false) {
            self.server = server
            self.converter = converter
            self.subscriberId = subscriberId
            self.signature = signature
            self.trust = trust
            self.keyType = keyType
            self.waitPending = waitPending
            self.force = force
        }
    }

    /// Enrols: establishes trust in the CA, generates a key, sends a CSR with Basic auth and
    /// stores key, certificate, CA and settings in `directory`. `notice` receives messages
    /// for the operator (fingerprint on first contact, waits while pending).
    public static func enroll(_ request: Request, into directory: AgentDirectory,
                              notice: @Sendable (String) -> Void = { _ in }) async throws(AgentError) -> AgentIdentity {
        let endpoint = try ServerEndpoint(url: request.server)
        guard !request.converter.isEmpty, request.converter.count <= 64,
              request.converter.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw .usage("--converter must be the converter's registered name (letters, digits, - _ .), got \"\(request.converter)\"")
        }
        if directory.isEnrolled && !request.force {
            throw .usage("\(directory.path) already holds an enrolment: use `tollgate-agent renew --dir \(directory.path)`, "
                         + "or pass --force to enrol again with a new key")
        }
        try directory.prepare()
        let ca = try await establishTrust(request.trust, endpoint: endpoint, notice: notice)
        let client = try HTTPSClient(endpoint: endpoint, tls: TLSSettings(trustRoots: try ca.trustRoots()))
        let est = ESTClient(client: client)
        let key = try AgentKey.generate(request.keyType)
        let csr = try key.certificateSigningRequest(commonName: request.converter)

        let deadline = ContinuousClock.now + request.waitPending
        var attempts = 0
        let certificate: Certificate
        while true {
            attempts += 1
            switch try await est.enroll(csr: csr, user: request.subscriberId, password: request.signature) {
            case .issued(let issued):
                certificate = issued
            case .pending(let retryAfter, let message):
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else {
                    let waited = request.waitPending == .zero ? "" : " after \(attempts) attempts"
                    throw .unavailable("the subscription of \(request.subscriberId) is still under review\(waited) "
                                       + "(\(message.isEmpty ? "HTTP 202" : message)); run enroll again later, or pass "
                                       + "--wait-pending SECONDS to keep retrying")
                }
                let pause = min(.seconds(retryAfter), remaining)
                let seconds = Int((Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18).rounded(.up))
                notice("subscription under review: retrying in \(seconds) s (server asked for \(retryAfter) s)")
                do { try await Task.sleep(for: pause) } catch { throw .unavailable("cancelled while waiting for the review") }
                continue
            }
            break
        }
        let issued = try check(certificate, key: key, ca: ca, converter: request.converter)
        let settings = AgentSettings(server: endpoint.description, converter: request.converter,
                                     org: issued.organizationalUnit ?? "", serial: issued.serial, notAfter: issued.notAfter,
                                     keyType: request.keyType.rawValue)
        try AgentDirectory.writeAtomically(Data(try ca.pem().utf8), to: directory.caFile, mode: 0o644)
        try AgentDirectory.writeAtomically(Data(key.pem.utf8), to: directory.keyFile, mode: 0o600)
        try AgentDirectory.writeAtomically(Data(issued.pem.utf8), to: directory.certificateFile, mode: 0o644)
        var merged = settings
        if let previous = try? AgentSettings.load(from: directory) {
            merged.peerAddress = previous.peerAddress
            merged.peerId = previous.peerId
        }
        try merged.save(to: directory)
        // A policy cached for an earlier enrolment may belong to another converter or tenant.
        for stale in [directory.policyFile, directory.stateFile] { unlink(stale) }
        return AgentIdentity(settings: merged, key: key, certificate: issued, ca: ca)
    }

    /// Fetches `/cacerts` and decides whether to trust its root.
    static func establishTrust(_ trust: FirstContactTrust, endpoint: ServerEndpoint,
                               notice: @Sendable (String) -> Void) async throws(AgentError) -> CABundle {
        switch trust {
        case .caFile(let file):
            let pinned = try CABundle.certificates(pemFile: file)
            let anchors = try CABundle.nioCertificates(pinned)
            let client = try HTTPSClient(endpoint: endpoint, tls: TLSSettings(trustRoots: anchors))
            let bundle = try CABundle(certificates: try await ESTClient(client: client).caCertificates())
            guard pinned.contains(bundle.root) else {
                throw .trust("the server's root CA \(bundle.root.subject) (SHA-256 \(bundle.rootFingerprint)) is not the one in \(file)")
            }
            return bundle
        case .fingerprint(let expected):
            let client = try HTTPSClient(endpoint: endpoint, tls: TLSSettings(trustRoots: nil))
            let bundle = try CABundle(certificates: try await ESTClient(client: client).caCertificates())
            guard bundle.rootFingerprint == CABundle.normalizedFingerprint(expected) else {
                throw .trust("the server's root CA has SHA-256 fingerprint \(bundle.rootFingerprint), not \(CABundle.normalizedFingerprint(expected)): "
                             + "you may be talking to another server")
            }
            return bundle
        case .insecureFirstContact:
            let client = try HTTPSClient(endpoint: endpoint, tls: TLSSettings(trustRoots: nil))
            let bundle = try CABundle(certificates: try await ESTClient(client: client).caCertificates())
            notice("trusting root CA \"\(bundle.root.subject)\" on first contact (--insecure-first-contact); SHA-256 fingerprint "
                   + "\(bundle.rootFingerprint) — compare it with `openssl x509 -in DATA/pki/root-ca.pem -noout -fingerprint -sha256` on the server")
            return bundle
        }
    }

    /// Checks an issued certificate: our key, signed by the issuing CA, named after the converter.
    static func check(_ certificate: Certificate, key: AgentKey, ca: CABundle, converter: String) throws(AgentError) -> AgentCertificate {
        guard key.matches(certificate) else { throw .unexpectedResponse("the issued certificate is not for the key this agent generated") }
        guard ca.issued(certificate) else { throw .trust("the issued certificate is not signed by Tollgate's issuing CA") }
        let issued = try AgentCertificate(certificate)
        guard issued.commonName == converter else {
            throw .unexpectedResponse("the issued certificate names \(issued.commonName ?? "nobody"), not \(converter)")
        }
        return issued
    }

    /// Re-enrols with the current certificate (mutual TLS) and a new key of the same type,
    /// then replaces key and certificate: both are written as `*.next`, then renamed, so an
    /// interrupted renewal is finished by the next `load`.
    public static func renew(_ directory: AgentDirectory) async throws(AgentError) -> AgentIdentity {
        let current = try AgentIdentity.load(directory)
        let est = ESTClient(client: try current.mutualTLSClient())
        let key = try AgentKey.generate(AgentKeyType(rawValue: current.settings.keyType) ?? current.key.type)
        let csr = try key.certificateSigningRequest(commonName: current.settings.converter)
        let certificate = try await est.reenroll(csr: csr)
        let issued = try check(certificate, key: key, ca: current.ca, converter: current.settings.converter)
        try AgentDirectory.writeAtomically(Data(issued.pem.utf8), to: directory.nextCertificateFile, mode: 0o644)
        try AgentDirectory.writeAtomically(Data(key.pem.utf8), to: directory.nextKeyFile, mode: 0o600)
        try AgentDirectory.move(directory.nextKeyFile, to: directory.keyFile)
        try AgentDirectory.move(directory.nextCertificateFile, to: directory.certificateFile)
        var settings = current.settings
        settings.serial = issued.serial
        settings.notAfter = issued.notAfter
        settings.enrolledAt = Date()
        try settings.save(to: directory)
        return AgentIdentity(settings: settings, key: key, certificate: issued, ca: current.ca)
    }

    /// Finishes or discards a renewal that a crash interrupted: `agent.pem.next` is moved in
    /// when it matches the key that is (or is about to be) `agent.key`, else removed.
    static func recoverInterruptedRenewal(_ directory: AgentDirectory) throws(AgentError) {
        let manager = FileManager.default
        guard manager.fileExists(atPath: directory.nextCertificateFile) else {
            // A staged key without its certificate was never used.
            if manager.fileExists(atPath: directory.nextKeyFile) { try? manager.removeItem(atPath: directory.nextKeyFile) }
            return
        }
        if manager.fileExists(atPath: directory.nextKeyFile) {
            try AgentDirectory.move(directory.nextKeyFile, to: directory.keyFile)
        }
        let certificate = try AgentCertificate.load(directory.nextCertificateFile)
        let key = try AgentKey.load(directory.keyFile)
        if key.matches(certificate.certificate) {
            try AgentDirectory.move(directory.nextCertificateFile, to: directory.certificateFile)
            if var settings = try? AgentSettings.load(from: directory) {
                settings.serial = certificate.serial
                settings.notAfter = certificate.notAfter
                try settings.save(to: directory)
            }
        } else {
            try? manager.removeItem(atPath: directory.nextCertificateFile)
        }
    }
}
