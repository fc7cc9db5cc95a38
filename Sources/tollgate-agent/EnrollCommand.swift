import Agent
import ArgumentParser
import Foundation

struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enrol this converter over EST: new key, CSR, certificate from Tollgate's CA.",
        discussion: """
            Trust in Tollgate's CA comes from --ca-file (its root-ca.pem, recommended), --ca-fingerprint \
            (SHA-256 of the root, as `openssl x509 -noout -fingerprint -sha256` prints it) or, explicitly, \
            --insecure-first-contact (trust on first use; the fingerprint is printed for checking). \
            Writes DIR/agent.key (0600), agent.pem, ca.pem and agent.json; DIR is 0700.
            """)

    @Option(help: "Tollgate's URL, https://HOST:PORT.") var server: String
    @Option(help: "The converter's registered name (the certificate's CN).") var converter: String
    @Option(help: "The subscriber ID (HTTP Basic user for EST).") var subscriberId: String
    @Option(help: "File holding the subscriber's signature (first line).") var signatureFile: String
    @OptionGroup var dir: DirectoryOption
    @Option(help: "PEM file with Tollgate's root CA (TLS trust anchor; the server's root must match).") var caFile: String?
    @Option(help: "Expected SHA-256 fingerprint of Tollgate's root CA (hex, colons optional).") var caFingerprint: String?
    @Flag(help: "Trust the server's CA on first contact without checking it (prints its fingerprint).") var insecureFirstContact = false
    @Option(help: "Key to generate: p256 or rsa2048.") var keyType: String = "p256"
    @Option(help: "Keep retrying this many seconds while the subscription is under review (HTTP 202); 0: give up at once.")
    var waitPending: Int = 0
    @Flag(help: "Enrol again although DIR already holds an enrolment (new key and certificate).") var force = false

    func validate() throws {
        let trusts = [caFile != nil, caFingerprint != nil, insecureFirstContact].filter { $0 }.count
        guard trusts == 1 else {
            throw ValidationError("give exactly one of --ca-file ROOT.pem (recommended), --ca-fingerprint SHA256 or --insecure-first-contact")
        }
        guard AgentKeyType(rawValue: keyType) != nil else { throw ValidationError("--key-type must be p256 or rsa2048") }
        guard waitPending >= 0 else { throw ValidationError("--wait-pending must be 0 or more seconds") }
    }

    func run() async throws {
        try await Report.failing {
            let signatureText: String
            do {
                signatureText = try String(contentsOfFile: signatureFile, encoding: .utf8)
            } catch {
                throw AgentError.localFiles("cannot read --signature-file \(signatureFile): \(error.localizedDescription)")
            }
            let signature = signatureText.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            guard !signature.isEmpty else { throw AgentError.usage("--signature-file \(signatureFile) is empty") }
            let trust: FirstContactTrust = if let caFile { .caFile(caFile) }
                else if let caFingerprint { .fingerprint(caFingerprint) } else { .insecureFirstContact }
            let request = Enrollment.Request(server: server, converter: converter, subscriberId: subscriberId, signature: signature,
                                             trust: trust, keyType: AgentKeyType(rawValue: keyType) ?? .p256,
                                             waitPending: .seconds(waitPending), force: force)
            let identity = try await Enrollment.enroll(request, into: dir.directory, notice: Report.notice)
            print("enrolled \(identity.settings.converter) of organisation \(identity.settings.org): certificate \(identity.certificate.serial), "
                  + "valid until \(identity.certificate.notAfter.formatted(.iso8601)); files in \(dir.path)")
        }
    }
}

struct RenewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Re-enrol now (EST simplereenroll with the current certificate) with a new key.")

    @OptionGroup var dir: DirectoryOption

    func run() async throws {
        try await Report.failing {
            let old = try AgentIdentity.load(dir.directory).certificate.serial
            let identity = try await Enrollment.renew(dir.directory)
            print("renewed \(identity.settings.converter): certificate \(identity.certificate.serial) (was \(old)), "
                  + "valid until \(identity.certificate.notAfter.formatted(.iso8601))")
        }
    }
}
