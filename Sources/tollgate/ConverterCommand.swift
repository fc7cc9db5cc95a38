import ArgumentParser
import Directory
import Foundation

/// `tollgate admin converter list|show|add|remove`.
struct ConverterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "converter", abstract: "Converters (VPN gateways) of subscribers.",
        subcommands: [List.self, Show.self, Add.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List converters of one subscriber, or of all.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number (omit for all subscribers).") var org: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                let all = try await store.converters(orgNumber: org)
                if output.json { return try Output.json(all) }
                Output.table(["ORG", "NAME", "ADDRESS", "MODEL", "FIRMWARE", "IKE", "STATE"], all.map {
                    [$0.orgNumber, $0.name, $0.address.description, $0.model ?? "", $0.firmware ?? "",
                     $0.ikeVersions.map { "v\($0)" }.joined(separator: ","), $0.state]
                })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one converter.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String
        @Option(name: .long, help: "Converter name.") var name: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                guard let c = try await store.converter(orgNumber: org, name: name) else {
                    throw DirectoryError.notFound("converter \(name) of \(org)")
                }
                if output.json { return try Output.json(c) }
                Output.fields([("name", c.name), ("converter id", c.converterId), ("organisation number", c.orgNumber),
                               ("address", c.address.description), ("model", c.model), ("firmware", c.firmware),
                               ("ike versions", c.ikeVersions.map(String.init).joined(separator: ", ")),
                               ("ike proposals", c.ikeProposals.joined(separator: ", ")), ("state", c.state),
                               ("assigned server", c.assignedServer), ("last seen", c.lastSeen.map(GeneralizedTime.string)),
                               ("certificate serials", c.certificateSerials.joined(separator: ", ")),
                               ("description", c.description)])
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a converter with a subscriber.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String
        @Option(name: .long, help: "Converter name, unique within the subscriber.") var name: String
        @Option(name: .long, help: "Public IPv4 or IPv6 address.") var address: String
        @Option(name: .long, help: "Model.") var model: String?
        @Option(name: .long, help: "Firmware version, e.g. 5.9.8.") var firmware: String?
        @Option(name: .customLong("ike-version"), help: "Supported IKE version (repeatable; default 2).") var ikeVersions: [Int] = []
        @Option(name: .customLong("ike-proposal"), help: "Supported IKE proposal (repeatable).") var ikeProposals: [String] = []
        @Option(name: .long, help: "Free text.") var description: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                guard let ip = IPAddress(address) else {
                    throw InvalidFieldError(field: "converter.address", message: "\"\(address)\" is not an IPv4 or IPv6 address")
                }
                let converter = Converter(name: name, orgNumber: org, address: ip, model: model, firmware: firmware,
                                          ikeVersions: ikeVersions.isEmpty ? [2] : ikeVersions, ikeProposals: ikeProposals,
                                          description: description)
                try await store.addConverter(converter)
                await recordOperatorEvent(store, "converter.added", orgNumber: org, converter: name, data: ["address": ip.description])
                if output.json { return try Output.json(converter) }
                print("added converter \(name) to subscriber \(org)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a converter.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String
        @Option(name: .long, help: "Converter name.") var name: String

        func run() async throws {
            try await withStore(directory) { store in
                let serials = try await store.converter(orgNumber: org, name: name)?.certificateSerials ?? []
                try await store.removeConverter(orgNumber: org, name: name)
                await recordOperatorEvent(store, "converter.removed", orgNumber: org, converter: name, data: [:])
                // Its certificates must not outlive it.
                if !serials.isEmpty {
                    try await revokeAndPublish(serials: serials, reason: "cessationOfOperation", store: store,
                                               pki: try? pkiFolder(nil, directory), requireCA: false)
                }
                print("removed converter \(name) of subscriber \(org)")
            }
        }
    }
}
