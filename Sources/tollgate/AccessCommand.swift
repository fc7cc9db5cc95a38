import Access
import ArgumentParser
import Directory
import Foundation
import LDAPClient

/// `tollgate admin access check`: the access decision for one question, decided by a
/// direct LDAP search of the tenant's destinations (not by a server's replica), like
/// `ipa hbactest`.
struct AccessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access", abstract: "Test access decisions against the directory.",
        subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Would converter C of tenant N be allowed to reach destination D? Exit status: 0 allowed, 1 denied, 2 error.",
            discussion: """
            Decided by an LDAP search of the tenant's ou=destinations, \
            (&(objectClass=tgDestination)(tgAddressFrom<=X)(tgAddressTo>=X)), and the server's decision rule: \
            the longest matching prefix wins, deny beats allow at equal length, entries outside their \
            validity window do not count, nothing matching means deny. A DNS name is resolved here; \
            every address must be allowed.
            """)
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number of the tenant.") var org: String
        @Option(name: .long, help: "Converter name (must exist in the tenant).") var converter: String
        @Option(name: .long, help: "Destination: IPv4 or IPv6 address, or a DNS name.") var destination: String
        @Option(name: .long, help: "Protocol: tcp, udp, icmp, esp or any.") var `protocol` = "any"
        @Option(name: .long, help: "Port (required for tcp and udp).") var port: Int?
        @Option(name: .long, help: "Decide as of this time instead of now (2026-12-01, 20261201000000Z or ISO 8601).") var at: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let outcome: (request: CheckRequest, decision: AccessDecision)
            do {
                outcome = try await decide()
            } catch {
                Output.error("\(error)")
                throw ExitCode(2)
            }
            let (request, decision) = outcome
            if output.json {
                try Output.json(Result(allow: decision.allow, reason: decision.reason, rule: decision.rule, org: org,
                                       converter: converter, destination: request.destination,
                                       protocol: request.query.protocol.rawValue, port: request.query.port,
                                       addresses: decision.addresses.map(\.description)))
            } else {
                Output.fields([("decision", decision.allow ? "allow" : "deny"), ("reason", decision.reason),
                               ("rule", decision.rule ?? "(none)"),
                               ("addresses", decision.addresses.map(\.description).joined(separator: ", "))])
            }
            if !decision.allow { throw ExitCode(1) }
        }

        struct Result: Encodable {
            var allow: Bool
            var reason: String
            var rule: String?
            var org: String
            var converter: String
            var destination: String
            var `protocol`: String
            var port: Int?
            var addresses: [String]
        }

        private func decide() async throws -> (CheckRequest, AccessDecision) {
            let body = CheckRequestInput(destination: destination, protocol: `protocol`, port: port)
            let request = try CheckRequest.decode(Array(try JSONEncoder().encode(body)))
            let now = try at.map { try GeneralizedTime.parse($0, field: "--at") } ?? Date()
            let store = try directory.store()
            do {
                let result = try await decide(store, request, now)
                await store.client.close()
                return result
            } catch {
                await store.client.close()
                throw error
            }
        }

        private func decide(_ store: DirectoryStore, _ request: CheckRequest, _ now: Date) async throws -> (CheckRequest, AccessDecision) {
            guard let entry = try await store.converter(orgNumber: org, name: converter) else {
                throw DirectoryError.notFound("converter \(converter) of \(org)")
            }
            if entry.state == "revoked" {
                Output.error("note: converter \(converter) is revoked; the server refuses its certificate before deciding")
            }
            let addresses: [IPAddress]
            if let address = request.address {
                addresses = [address]
            } else {
                addresses = try await HostResolver().resolve(request.destination)
            }
            let decision = try await DirectAccessCheck(client: store.client, layout: store.layout)
                .decide(org: org, addresses: addresses, query: request.query, now: now)
            return (request, decision)
        }
    }
}

/// The CLI's flags in the API's JSON form, so both are validated by the same code.
private struct CheckRequestInput: Encodable {
    var destination: String
    var `protocol`: String
    var port: Int?
}
