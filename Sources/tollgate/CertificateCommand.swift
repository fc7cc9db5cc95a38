import ArgumentParser
import CertificateAuthority
import Directory
import EST
import Foundation

/// `tollgate admin certificate list|revoke`.
struct CertificateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certificate", abstract: "Converter certificates: expiry and revocation.",
        subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List converters' current certificates.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number (omit for all).") var org: String?
        @Option(name: .long, help: "Only certificates expiring within this span: 30d, 12h, or a number of days.") var expiring: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                var converters = try await store.converters(orgNumber: org).filter { $0.certificateNotAfter != nil }
                if let expiring {
                    let limit = Date().addingTimeInterval(try Duration.seconds(parsing: expiring))
                    converters = converters.filter { ($0.certificateNotAfter ?? .distantFuture) < limit }
                }
                struct Row: Encodable { var orgNumber: String; var converter: String; var serial: String?; var notAfter: Date?; var state: String }
                let rows = converters.map { Row(orgNumber: $0.orgNumber, converter: $0.name, serial: $0.certificateSerials.last,
                                                notAfter: $0.certificateNotAfter, state: $0.state) }
                if output.json { return try Output.json(rows) }
                Output.table(["ORG", "CONVERTER", "SERIAL", "NOT AFTER", "STATE"], rows.map {
                    [$0.orgNumber, $0.converter, $0.serial ?? "", $0.notAfter.map(GeneralizedTime.string) ?? "", $0.state]
                })
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a certificate (by serial) or every certificate of a converter, then publish a new CRL.",
            discussion: "Signing the CRL needs the CA's key: run with --data DIR (the CA lives in DIR/pki) or give --pki.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Serial number (hex) of the certificate.") var serial: String?
        @Option(name: .long, help: "Organisation number of the converter (with --converter).") var org: String?
        @Option(name: .long, help: "Converter name: revoke all of its certificates.") var converter: String?
        @Option(name: .long, help: "Reason: \(RevocationRecord.reasons.joined(separator: ", ")).") var reason = "unspecified"
        @Option(name: .long, help: "CA folder (default DIR/pki with --data).") var pki: String?

        func validate() throws {
            if (serial == nil) == (converter == nil) { throw ValidationError("give either --serial S or --org N --converter C") }
            if converter != nil && org == nil { throw ValidationError("--converter needs --org") }
        }

        func run() async throws {
            try await withStore(directory) { store in
                var serials: [String] = []
                if let serial { serials = [serial.lowercased()] }
                if let converter, let org {
                    guard let found = try await store.converter(orgNumber: org, name: converter) else {
                        throw DirectoryError.notFound("converter \(converter) of \(org)")
                    }
                    serials = found.certificateSerials
                    if serials.isEmpty { throw DirectoryError.notFound("a certificate of converter \(converter) of \(org)") }
                }
                let number = try await revokeAndPublish(serials: serials, reason: reason, store: store,
                                                        pki: try pkiFolder(pki, directory))
                print("revoked \(serials.joined(separator: ", ")); published CRL \(number.map(String.init) ?? "?")")
            }
        }
    }
}

/// The CA folder for an admin command: `--pki`, else `DIR/pki` of `--data`.
func pkiFolder(_ explicit: String?, _ directory: DirectoryOptions) throws -> URL {
    if let explicit { return URL(fileURLWithPath: explicit) }
    guard let data = directory.data else {
        throw ValidationError("signing the CRL needs the CA: give --data DIR or --pki DIR")
    }
    return URL(fileURLWithPath: data).appendingPathComponent("pki")
}

/// Records revocations of `serials` (with their converters) and publishes a new CRL.
/// With `requireCA: false` and no CA at `pki`, only records them (a running server
/// publishes the CRL within a minute) and returns nil.
@discardableResult
func revokeAndPublish(serials: [String], reason: String, store: DirectoryStore, pki: URL?, requireCA: Bool = true) async throws -> Int? {
    let hasCA = pki.map { FileManager.default.fileExists(atPath: $0.appendingPathComponent("issuing-ca.key").path) } ?? false
    if requireCA && !hasCA {
        throw ValidationError("no CA in \(pki?.path ?? "--pki"): it is created by the first `tollgate serve`")
    }
    let now = Date()
    for serial in serials {
        let converter = try await store.converter(certificateSerial: serial)
        try await store.recordRevocation(RevocationRecord(serial: serial, revokedAt: now, reason: reason,
                                                          orgNumber: converter?.orgNumber, converter: converter?.name))
        if let converter {
            await recordOperatorEvent(store, "certificate.revoked", orgNumber: converter.orgNumber, converter: converter.name,
                                      data: ["serial": serial, "reason": reason])
        }
    }
    guard hasCA, let pki else { return nil }
    let authority = try CertificateAuthority(directory: pki)
    return try await CRLPublisher(authority: authority, store: store).publish(now: now)
}

extension Duration {
    /// `30d`, `12h`, `45m`, or a bare number of days, in seconds.
    static func seconds(parsing text: String) throws -> TimeInterval {
        let units: [Character: TimeInterval] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
        var number = Substring(text)
        var unit: TimeInterval = 86_400
        if let last = text.last, let value = units[last] {
            unit = value
            number = text.dropLast()
        }
        guard let value = Double(number), value >= 0 else {
            throw ValidationError("\"\(text)\" is not a duration like 30d, 12h or 45m")
        }
        return value * unit
    }
}
