import ArgumentParser
import Foundation
import ManagedSlapd

/// `tollgate directory init|start|stop|status --data DIR`: the managed slapd.
struct DirectoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory",
        abstract: "Manage the embedded slapd under a data directory.",
        subcommands: [Init.self, Start.self, Stop.self, Status.self]
    )

    struct InstanceOptions: ParsableArguments {
        @Option(name: .long, help: "Data directory of the managed slapd.")
        var data: String

        @Option(name: .long, help: "LDAP port on 127.0.0.1 (default: the port recorded at init, else 3389).")
        var ldapPort: Int?

        @Option(name: .customLong("ldap-listen"), help: "Another ldap://ADDRESS:PORT to listen on (repeatable; start only).")
        var ldapListen: [String] = []

        var instance: ManagedSlapd {
            var instance = ManagedSlapd(dataDirectory: data, ldapPort: ldapPort)
            instance.additionalListeners = ldapListen
            return instance
        }
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create cn=config, the database, the base DIT and the ACLs under --data.")
        @OptionGroup var options: InstanceOptions

        func run() async throws {
            let instance = options.instance
            try await CLIError.reporting {
                if try await instance.initialize(resources: TollgateResources.locate()) {
                    print("initialized \(instance.layout.root.path) (\(instance.ldapURL), \(instance.ldapiURL))")
                } else {
                    print("already initialized: \(instance.layout.root.path)")
                }
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start slapd (runs in the background; pid file in DIR/run).")
        @OptionGroup var options: InstanceOptions

        func run() async throws {
            let instance = options.instance
            try await CLIError.reporting {
                let pid = try await instance.start()
                print("slapd running (pid \(pid)) on \(instance.ldapURL) and \(instance.ldapiURL)")
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop slapd (SIGINT, then SIGKILL after 20 s).")
        @OptionGroup var options: InstanceOptions

        func run() async throws {
            let instance = options.instance
            try await CLIError.reporting {
                print(try await instance.stop() ? "slapd stopped" : "slapd was not running")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print whether slapd runs. Exit status: 0 running, 3 stopped, 4 not initialized.")
        @OptionGroup var options: InstanceOptions

        func run() async throws {
            let instance = options.instance
            let status = instance.status()
            switch status {
            case .running:
                print("\(status) on \(instance.ldapURL) and \(instance.ldapiURL)")
            case .stopped:
                print("stopped")
                throw ExitCode(3)
            case .notInitialized:
                print("not initialized: \(instance.layout.root.path)")
                throw ExitCode(4)
            }
        }
    }
}
