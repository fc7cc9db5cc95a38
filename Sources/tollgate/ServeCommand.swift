import ArgumentParser
import Directory
import Foundation
import Hummingbird
import LDAPClient
import Logging
import ManagedSlapd
import Web

/// `tollgate serve`: run Tollgate with its directory.
///
/// Without `--ldap-url` the managed slapd under `--data` is initialised if needed,
/// started if not running, and stopped again on shutdown if `serve` started it.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the Tollgate server (with the managed slapd unless --ldap-url is given).")

    @Option(name: .long, help: "Data directory (managed slapd, keys, outbox).") var data = "tollgate-data"
    @Option(name: .long, help: "Listen address.") var host = "127.0.0.1"
    @Option(name: .long, help: "Listen port.") var port = 8443
    @Option(name: .long, help: "LDAP port of the managed slapd on 127.0.0.1.") var ldapPort: Int?
    @Option(name: .long, help: "Use this directory instead of the managed slapd.") var ldapUrl: String?
    @Option(name: .long, help: "Bind DN for --ldap-url.") var bindDn: String?
    @Option(name: .long, help: "File holding the bind password for --ldap-url (or TOLLGATE_LDAP_PASSWORD).") var passwordFile: String?
    @Flag(name: .long, help: "Load the demo directory (ldif/example.ldif) once.") var demo = false
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        var logger = Logger(label: "tollgate")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        try await CLIError.reporting {
            var startedSlapd: ManagedSlapd?
            let directory: DirectoryOptions
            if let ldapUrl {
                directory = try DirectoryOptions.parse(["--ldap-url", ldapUrl] + (bindDn.map { ["--bind-dn", $0] } ?? [])
                                                       + (passwordFile.map { ["--password-file", $0] } ?? []))
                if demo { logger.warning("--demo applies to the managed slapd only; ignored with --ldap-url") }
            } else {
                let slapd = ManagedSlapd(dataDirectory: data, ldapPort: ldapPort)
                let resources = try TollgateResources.locate()
                if try await slapd.initialize(resources: resources, logger: logger) {
                    logger.info("initialized the managed directory", metadata: ["data": "\(slapd.layout.root.path)"])
                }
                if slapd.runningPID() == nil {
                    try await slapd.start(logger: logger)
                    startedSlapd = slapd
                }
                if demo, try await slapd.loadDemo(resources: resources) {
                    logger.info("loaded the demo directory (tenants 1001 and 1002)")
                }
                directory = try DirectoryOptions.parse(["--data", data] + (ldapPort.map { ["--ldap-port", String($0)] } ?? []))
            }
            let store = DirectoryStore(client: LDAPClient(configuration: try directory.configuration(maximumConnections: 8)))
            let app = TollgateServer.application(store: store, host: host, port: port,
                                                 version: TollgateVersion.string, logger: logger)
            do {
                try await app.runService()
            } catch {
                await store.client.close()
                if let startedSlapd { _ = try? await startedSlapd.stop() }
                throw error
            }
            await store.client.close()
            if let startedSlapd {
                _ = try await startedSlapd.stop()
                logger.info("stopped the managed slapd")
            }
        }
    }
}
