import CertificateAuthority
import Directory
import Foundation
import LDAPClient
import Logging
import X509

/// The decisions behind EST enrolment, independent of HTTP.
///
/// First enrolment authenticates the subscriber (HTTP Basic: subscriber ID and signature,
/// checked by an LDAP bind as the subscriber, so slapd's password policy counts wrong
/// signatures), takes the converter name from the CSR's common name, requires that the
/// converter is registered to that subscriber, and issues a certificate whose subject and
/// alternative names come from the directory. Re-enrolment authenticates with the current
/// certificate (TLS client authentication) and keeps its subject and names.
public struct EnrollmentService: Sendable {
    public let authority: CertificateAuthority
    public let store: DirectoryStore
    /// Validity and CRL distribution points of issued certificates.
    public let profile: LeafProfile
    /// Seconds a converter of a subscriber under review is told to wait.
    public let retryAfter: Int
    public let logger: Logger
    /// Groups certificate publications (awaited) and history events (not awaited) into
    /// LDAP transactions; nil writes each on its own, synchronously.
    public let writer: BatchedWriter?
    /// Recently verified signatures; nil binds for every request.
    public let credentialCache: CredentialCache?

    public init(authority: CertificateAuthority, store: DirectoryStore, profile: LeafProfile,
                retryAfter: Int = 300, writer: BatchedWriter? = nil, credentialCache: CredentialCache? = nil,
                logger: Logger = Logger(label: "tollgate.est")) {
        self.authority = authority
        self.store = store
        self.profile = profile
        self.retryAfter = retryAfter
        self.writer = writer
        self.credentialCache = credentialCache
        self.logger = logger
    }

    /// What a first enrolment produced.
    public enum Outcome: Sendable {
        case issued(IssuedCertificate)
        /// The subscriber is still under review: ask again later.
        case pending(retryAfter: Int)
    }

    /// `/simpleenroll`.
    public func enroll(credentials: BasicCredentials?, csrBody: [UInt8]) async throws(ESTError) -> Outcome {
        guard let credentials else {
            throw .unauthorized("send HTTP Basic credentials: your subscriber ID and signature")
        }
        let subscriber = try await authenticate(credentials)
        if subscriber.state == "pending" { return .pending(retryAfter: retryAfter) }
        guard subscriber.state == "active" else {
            throw .forbidden("subscriber \(subscriber.subscriberId) is \(subscriber.state)")
        }
        let csr = try parse(csrBody)
        guard let name = Self.commonName(of: csr) else {
            throw .badRequest("the CSR's subject has no common name (CN); put the converter's name there, e.g. CN=conv-a")
        }
        let converter: Converter?
        do {
            converter = try await store.converter(orgNumber: subscriber.orgNumber, name: name)
        } catch {
            throw .unavailable("directory lookup failed: \(error)")
        }
        guard let converter else {
            throw .forbidden("no converter \"\(name)\" is registered to subscriber \(subscriber.subscriberId)")
        }
        guard converter.state != "revoked" else {
            throw .forbidden("converter \(name) of \(subscriber.orgNumber) is revoked; an operator must re-register it")
        }
        let subject = LeafSubject(commonName: converter.name, organizationalUnit: converter.orgNumber,
                                  ipAddresses: [converter.address.description])
        let issued: IssuedCertificate
        do {
            issued = try authority.issue(csr: csr, subject: subject, profile: profile)
        } catch {
            throw .badRequest("\(error)")
        }
        try await publish(issued, converter: converter, event: "certificate.issued", actor: subscriber.subscriberId)
        return .issued(issued)
    }

    /// `/simplereenroll`: `clientCertificate` is the TLS client certificate, already
    /// verified by the TLS layer to chain to this CA.
    public func reenroll(clientCertificate: Certificate?, csrBody: [UInt8]) async throws(ESTError) -> IssuedCertificate {
        guard let clientCertificate else {
            throw .unauthorized("re-enrolment needs your current certificate as TLS client certificate")
        }
        let serial = SerialNumbers.hex(clientCertificate.serialNumber)
        let converter: Converter?
        do {
            if try await store.isRevoked(serial: serial) {
                throw ESTError.forbidden("certificate \(serial) is revoked")
            }
            converter = try await store.converter(certificateSerial: serial)
        } catch let error as ESTError {
            throw error
        } catch {
            throw .unavailable("directory lookup failed: \(error)")
        }
        guard let converter else {
            throw .forbidden("certificate \(serial) belongs to no registered converter")
        }
        guard converter.state != "revoked" else { throw .forbidden("converter \(converter.name) is revoked") }
        let csr = try parse(csrBody)
        let issued: IssuedCertificate
        do {
            issued = try authority.reissue(csr: csr, replacing: clientCertificate, profile: profile)
        } catch {
            throw .badRequest("\(error)")
        }
        try await publish(issued, converter: converter, event: "certificate.reissued", actor: converter.converterId)
        return issued
    }

    // MARK: -

    private func authenticate(_ credentials: BasicCredentials) async throws(ESTError) -> Subscriber {
        do {
            guard let subscriber = try await store.subscriber(subscriberId: credentials.user) else {
                throw ESTError.unauthorized("wrong subscriber ID or signature (repeated failures lock the subscriber)")
            }
            let dn = store.layout.subscriber(subscriber.orgNumber)
            // Only the bind counts failures and sees lockouts: a locked or inactive
            // subscriber always binds, and only successes are remembered.
            let cacheable = !subscriber.locked && subscriber.state == "active"
            if !cacheable { credentialCache?.forget(dn.string) }
            if cacheable, credentialCache?.isVerified(dn: dn.string, password: credentials.password) == true {
                return subscriber
            }
            guard try await store.client.checkPassword(dn: dn, password: credentials.password) else {
                throw ESTError.unauthorized("wrong subscriber ID or signature (repeated failures lock the subscriber)")
            }
            if cacheable { credentialCache?.remember(dn: dn.string, password: credentials.password) }
            return subscriber
        } catch let error as ESTError {
            throw error
        } catch let error as LDAPError where error.code == .insufficientAccessRights || error.code == .unwillingToPerform {
            throw .unauthorized("the subscriber may not authenticate: \(error.diagnosticMessage)")
        } catch {
            throw .unavailable("cannot check credentials: \(error)")
        }
    }

    private func parse(_ body: [UInt8]) throws(ESTError) -> CertificateSigningRequest {
        guard body.count <= CSRParser.maximumSize * 2 else { throw .payloadTooLarge(CSRParser.maximumSize * 2) }
        do {
            return try CSRParser.parse(body)
        } catch {
            throw .badRequest("\(error)")
        }
    }

    private func publish(_ issued: IssuedCertificate, converter: Converter, event: String, actor: String) async throws(ESTError) {
        let notAfter = issued.certificate.notValidAfter
        do {
            try await store.publishCertificate(orgNumber: converter.orgNumber, converter: converter.name,
                                               der: Data(issued.derEncoded), serial: issued.serialHex, notAfter: notAfter,
                                               writer: writer)
        } catch {
            throw .unavailable("the certificate was issued but could not be published: \(error)")
        }
        let data = "{\"serial\":\"\(issued.serialHex)\",\"notAfter\":\"\(GeneralizedTime.string(notAfter))\"}"
        let historyEvent = HistoryEvent(type: event, orgNumber: converter.orgNumber, converter: converter.name,
                                         actor: actor, data: data)
        do {
            // With a writer the event is queued (written with the next group, retried on
            // errors, flushed on shutdown); the answer does not wait for it.
            if let writer { try store.record(historyEvent, writer: writer) } else { try await store.record(historyEvent) }
        } catch {
            logger.warning("could not record \(event) in the history", metadata: ["error": "\(error)"])
        }
        logger.info("\(event)", metadata: ["converter": "\(converter.converterId)", "serial": "\(issued.serialHex)"])
    }

    /// The first common name in the CSR's subject.
    static func commonName(of csr: CertificateSigningRequest) -> String? {
        for rdn in csr.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let value = String(attribute.value) { return value }
            }
        }
        return nil
    }
}
