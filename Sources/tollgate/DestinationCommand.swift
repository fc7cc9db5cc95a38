import ArgumentParser
import Directory
import Foundation

/// `tollgate admin destination list|show|add|remove`.
struct DestinationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destination", abstract: "Destinations a subscriber's terminals may reach (its destination directory).",
        subcommands: [List.self, Show.self, Add.self, Remove.self])

    static func row(_ d: Destination) -> [String] {
        [d.name, d.network.description, d.protocol, d.ports.isEmpty ? "any" : d.ports.map(\.description).joined(separator: ","),
         d.action, d.notBefore.map(GeneralizedTime.string) ?? "", d.notAfter.map(GeneralizedTime.string) ?? "", d.description ?? ""]
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a subscriber's destinations.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                let all = try await store.destinations(orgNumber: org)
                if output.json { return try Output.json(all) }
                Output.table(["NAME", "NETWORK", "PROTOCOL", "PORTS", "ACTION", "NOT BEFORE", "NOT AFTER", "DESCRIPTION"],
                             all.map(DestinationCommand.row))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one destination.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String
        @Option(name: .long, help: "Destination name.") var name: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                guard let d = try await store.destination(orgNumber: org, name: name) else {
                    throw DirectoryError.notFound("destination \(name) of \(org)")
                }
                if output.json { return try Output.json(d) }
                let r = DestinationCommand.row(d)
                Output.fields([("name", r[0]), ("network", r[1]), ("protocol", r[2]), ("ports", r[3]), ("action", r[4]),
                               ("not before", r[5]), ("not after", r[6]), ("description", r[7])])
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a destination to a subscriber's destination directory.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String
        @Option(name: .long, help: "Network in CIDR notation (IPv4 or IPv6); a bare address is a host.") var network: String
        @Option(name: .long, help: "Protocol: tcp, udp, icmp, esp or any.") var `protocol` = "any"
        @Option(name: .customLong("port"), help: "Port or range like 8000-8100 (repeatable; tcp/udp only; default every port).") var ports: [String] = []
        @Option(name: .long, help: "Name (default derived from network, protocol and ports).") var name: String?
        @Option(name: .long, help: "Valid from (2026-12-01, 20261201000000Z or ISO 8601).") var notBefore: String?
        @Option(name: .long, help: "Valid until.") var notAfter: String?
        @Option(name: .long, help: "allow (default) or deny.") var action = "allow"
        @Option(name: .long, help: "Free text.") var description: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                let destination = Destination(
                    name: name, orgNumber: org, network: try IPNetwork(parsing: network, field: "destination.network"),
                    protocol: `protocol`, ports: try ports.map { try PortRange(parsing: $0, field: "destination.ports") },
                    notBefore: try notBefore.map { try GeneralizedTime.parse($0, field: "destination.notBefore") },
                    notAfter: try notAfter.map { try GeneralizedTime.parse($0, field: "destination.notAfter") },
                    action: action, description: description)
                try await store.addDestination(destination)
                await recordOperatorEvent(store, "destination.added", orgNumber: org,
                                          data: ["name": destination.name, "network": destination.network.description])
                if output.json { return try Output.json(destination) }
                print("added destination \(destination.name) to subscriber \(org)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a destination.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String
        @Option(name: .long, help: "Destination name.") var name: String

        func run() async throws {
            try await withStore(directory) { store in
                try await store.removeDestination(orgNumber: org, name: name)
                await recordOperatorEvent(store, "destination.removed", orgNumber: org, data: ["name": name])
                print("removed destination \(name) of subscriber \(org)")
            }
        }
    }
}
