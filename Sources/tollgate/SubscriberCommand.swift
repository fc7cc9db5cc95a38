import ArgumentParser
import Directory
import Foundation

/// `tollgate admin subscriber list|show|add|remove`.
struct SubscriberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriber", abstract: "Client organisations (tenants).",
        subcommands: [List.self, Show.self, Add.self, Remove.self, Unlock.self])

    static func print(_ s: Subscriber) {
        Output.fields([("organisation number", s.orgNumber), ("subscriber id", s.subscriberId), ("name", s.name),
                       ("mail", s.mail), ("billing method", s.billingMethod), ("state", s.state),
                       ("locked", s.locked ? "yes (unlock with an operator command)" : "no"), ("description", s.description)])
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List subscribers.")
        @OptionGroup var directory: DirectoryOptions
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                let all = try await store.subscribers()
                if output.json { return try Output.json(all) }
                Output.table(["ORG", "ID", "NAME", "MAIL", "BILLING", "STATE"], all.map {
                    [$0.orgNumber, $0.subscriberId, $0.name, $0.mail, $0.billingMethod, $0.state + ($0.locked ? " (locked)" : "")]
                })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one subscriber.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                guard let subscriber = try await store.subscriber(org) else { throw DirectoryError.notFound("subscriber \(org)") }
                if output.json { return try Output.json(subscriber) }
                SubscriberCommand.print(subscriber)
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a subscriber with its containers.",
            discussion: "Without --signature a random signature is generated and printed once; only its salted hash is stored.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number (digits).") var org: String
        @Option(name: .long, help: "Subscriber ID, e.g. 1001-01.") var id: String
        @Option(name: .long, help: "Organisation name.") var name: String
        @Option(name: .long, help: "Contact mail address.") var mail: String
        @Option(name: .long, help: "Billing method: invoice, card or direct-debit.") var billing = "invoice"
        @Option(name: .long, help: "State: pending, active or suspended.") var state = "active"
        @Option(name: .long, help: "Signature (at least 12 characters); read from --signature-file if given.") var signature: String?
        @Option(name: .long, help: "File holding the signature.") var signatureFile: String?
        @Option(name: .long, help: "Free text.") var description: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                var signature = self.signature
                if let signatureFile { signature = try String(contentsOfFile: signatureFile, encoding: .utf8).trimmingCharacters(in: .newlines) }
                let generated = signature == nil
                let secret = signature ?? Signature.generate()
                let subscriber = Subscriber(orgNumber: org, subscriberId: id, name: name, mail: mail,
                                            billingMethod: billing.lowercased(), state: state.lowercased(), description: description)
                try await store.addSubscriber(subscriber, signature: secret)
                await recordOperatorEvent(store, "subscriber.added", orgNumber: org, data: ["subscriberId": id])
                if output.json {
                    struct Added: Encodable { var subscriber: Subscriber; var signature: String? }
                    return try Output.json(Added(subscriber: subscriber, signature: generated ? secret : nil))
                }
                Swift.print("added subscriber \(org) (\(id))")
                if generated { Swift.print("signature (shown once, store it now): \(secret)") }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a subscriber and everything below it.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String

        func run() async throws {
            try await withStore(directory) { store in
                let serials = try await store.converters(orgNumber: org).flatMap(\.certificateSerials)
                try await store.removeSubscriber(org)
                // Its converters' certificates must not outlive it.
                if !serials.isEmpty {
                    try await revokeAndPublish(serials: serials, reason: "cessationOfOperation", store: store,
                                               pki: try? pkiFolder(nil, directory), requireCA: false)
                }
                await recordOperatorEvent(store, "subscriber.removed", orgNumber: nil, data: ["orgNumber": org])
                Swift.print("removed subscriber \(org)")
            }
        }
    }
}

extension SubscriberCommand {
    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lift the lockout that repeated wrong signatures caused.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String

        func run() async throws {
            try await withStore(directory) { store in
                if try await store.unlockSubscriber(org) {
                    await recordOperatorEvent(store, "subscriber.unlocked", orgNumber: org, data: [:])
                    Swift.print("unlocked subscriber \(org)")
                } else {
                    Swift.print("subscriber \(org) was not locked")
                }
            }
        }
    }
}

/// Random subscriber signatures.
enum Signature {
    /// 24 random bytes as base64url: 192 bits of entropy.
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}
