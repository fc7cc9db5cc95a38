import Access
import ArgumentParser
import CertificateAuthority
import Directory
import EST
import Foundation
import Hummingbird
import LDAPClient
import Logging
import Mail
import ManagedSlapd
import Reports
import Monitoring
import ServiceLifecycle
import Subscription
import TollgateMetrics
import Web

/// `tollgate serve`: run Tollgate with its directory.
///
/// Without `--ldap-url` the managed slapd under `--data` is initialised if needed,
/// started if not running, and stopped again on shutdown if `serve` started it. The CA
/// lives under `DIR/pki` and is created on first start.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the Tollgate server (with the managed slapd unless --ldap-url is given).")

    @Option(name: .long, help: "Data directory (managed slapd, CA keys).") var data = "tollgate-data"
    @Option(name: .long, help: "Listen address.") var host = "127.0.0.1"
    @Option(name: .long, help: "HTTPS port.") var port = 8443
    @Option(name: .long, help: "LDAP port of the managed slapd on 127.0.0.1.") var ldapPort: Int?
    @Option(name: .long, help: "Use this directory instead of the managed slapd.") var ldapUrl: String?
    @Option(name: .customLong("ldap-listen"), help: "Another ldap://ADDRESS:PORT the managed slapd listens on (repeatable), e.g. for peers fetching the CRL.") var ldapListen: [String] = []
    @Option(name: .long, help: "Bind DN for --ldap-url.") var bindDn: String?
    @Option(name: .long, help: "File holding the bind password for --ldap-url (or TOLLGATE_LDAP_PASSWORD).") var passwordFile: String?
    @Flag(name: .long, help: "Load the demo directory (ldif/example.ldif) once.") var demo = false
    @Option(name: .customLong("tls-name"), help: "DNS name for the server certificate (repeatable; default localhost).") var tlsNames: [String] = []
    @Option(name: .customLong("tls-address"), help: "IP address for the server certificate (repeatable; default 127.0.0.1 and --host).") var tlsAddresses: [String] = []
    @Option(name: .long, help: "Validity of issued converter certificates in days.") var certValidityDays = 365
    @Option(name: .long, help: "ldap://HOST:PORT where peers fetch the CRL (first CRL distribution point of issued certificates; default: the managed slapd's). A URL with a path is used as is.") var crlLdapUrl: String?
    @Option(name: .long, help: "Seconds a converter of a subscriber under review is told to wait (EST 202 Retry-After).") var retryAfter = 300
    @Flag(name: .long, help: "Serve plain HTTP instead of HTTPS (development only: EST needs HTTPS).") var plainHttp = false
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(name: .long, help: "LDAP connections in the server's pool (searches and reads).") var ldapConnections = 16
    @Option(name: .long, help: "Most directory writes (certificate publications, history events) committed as one LDAP transaction; 1: each write on its own, history synchronous.") var writeBatch = 256
    @Option(name: .long, help: "Seconds a verified subscriber signature is trusted without a new LDAP bind (0: bind every time).") var credentialCacheSeconds = 60.0
    @Option(name: .long, help: "JSON file of subscription review rules (default: the built-in rules of docs/subscription.md).") var reviewRules: String?
    @Option(name: .long, help: "Tollgate's public base URL for mails and the form's status URL (default: https://HOST:PORT of the request or of --host/--port).") var publicUrl: String?
    @Option(name: .long, help: "SMTP server for verdict mails (default: none; mails are written to DIR/outbox as .eml).") var smtpHost: String?
    @Option(name: .long, help: "SMTP port (587 submission; 25 for a relay).") var smtpPort = 587
    @Option(name: .long, help: "STARTTLS: required, opportunistic or off (default: required with --smtp-user, else opportunistic).") var smtpStarttls: String?
    @Option(name: .long, help: "SMTP AUTH user name (PLAIN or LOGIN).") var smtpUser: String?
    @Option(name: .long, help: "File holding the SMTP password (or TOLLGATE_SMTP_PASSWORD).") var smtpPasswordFile: String?
    @Option(name: .long, help: "PEM file of CA certificates trusted for the SMTP server's certificate (default: the system's).") var smtpCaFile: String?
    @Option(name: .long, help: "Sender of Tollgate's mails.") var mailFrom = MailSettings.defaultFrom
    @Option(name: .long, help: "Seconds before the first retry of a failed mail delivery (doubling up to --mail-retry-max).") var mailRetryInitial = 1.0
    @Option(name: .long, help: "Longest wait between delivery attempts, in seconds.") var mailRetryMax = 300.0
    @Option(name: .long, help: "Seconds between passes over the mail spool.") var mailPollInterval = 5.0
    @Option(name: .long, help: "Seconds access decisions keep coming from the last synchronised state (marked stale) after the directory became unreachable; then they are refused with 503.") var accessStaleSeconds = 300.0
    @Option(name: .long, help: "Seconds a converter may cache an access answer (the ttl field).") var accessTtl = 60
    @Option(name: .long, help: "Period of the access history: per-converter counts are written once per period.") var accessHistorySeconds = 60.0
    @Option(name: .long, help: "Refusals recorded one by one per converter and period (the rest are only counted).") var accessDenyEvents = 20
    @Flag(name: .customLong("no-access-fast-path"), help: "Answer POST /v1/access/check and /v1/access/batch through the router like every other request instead of on the connection's event loop (for comparison and debugging).") var noAccessFastPath = false
    @Option(name: .long, help: "Event-loop threads of the HTTPS server (default: one per CPU). Fewer than CPUs leaves cores to slapd and other work and shortens tail latency when they compete.") var eventLoopThreads: Int?
    @Option(name: .long, help: "Report periods mailed to every active subscriber after they end: any of day,week,month, or off.") var reportPeriods = "week,month"
    @Option(name: .long, help: "Days a mailed report link stays valid.") var reportLinkDays = 30
    @Option(name: .long, help: "Seconds between the report scheduler's checks for ended periods.") var reportCheckSeconds = 300.0
    @Option(name: .long, help: "Seconds after a period's end before its report is made (late samples).") var reportSettleSeconds = 900.0
    @Option(name: .long, help: "Scheduled reports made at once (each reads its client's samples from slapd; see docs/reports.md for what a catch-up of many tenants costs access checks).") var reportJobs = 2
    @Option(name: .long, help: "HOST:PORT of a plain-HTTP listener for Prometheus' GET /metrics (operators only, e.g. 127.0.0.1:9464), or off.") var metricsListen = "off"
    @Option(name: .long, help: "Converter monitoring (probes, health mails, traffic collection, roll-ups): on or off.") var monitor = "on"
    @Option(name: .long, help: "Seconds between probe cycles over all certified converters.") var probeInterval = 60.0
    @Option(name: .long, help: "Probes (with their traffic collection) in flight at once.") var probeConcurrency = 64
    @Option(name: .long, help: "Seconds one request to a converter's agent may take.") var probeTimeout = 10.0
    @Option(name: .long, help: "A converter whose certificate ends within this many days is 'expiring'.") var expiryWarningDays = 14.0
    @Option(name: .long, help: "Consecutive failed probes after which a converter is 'down'.") var downAfter = 3
    @Option(name: .long, help: "More health changes than this within --flap-window hold further mails (one digest follows).") var flapLimit = 4
    @Option(name: .long, help: "Seconds of the flap window; also how long a flapping converter must be stable before the digest mail.") var flapWindow = 3600.0
    @Option(name: .long, help: "Records asked for per traffic request (1…10000).") var trafficPageSize = 1000
    @Option(name: .long, help: "LDAP connections of the monitor (collection batches are committed on them in parallel).") var monitorLdapConnections = 16
    @Option(name: .long, help: "Converters whose collected traffic pages are committed together in one LDAP transaction at most (group commit; 1: one transaction per converter and page). Keep it at or below --probe-concurrency.") var collectBatch = 64
    @Option(name: .long, help: "Seconds a collected page waits for other converters' pages before its batch is committed anyway.") var collectBatchWait = 0.05
    @Option(name: .long, help: "Seconds between roll-up and retention passes over the traffic samples.") var rollupInterval = 3600.0
    @Option(name: .customLong("retain-5m"), help: "Days 5-minute traffic samples are kept.") var retain5m = 2.0
    @Option(name: .long, help: "Days hourly traffic samples are kept.") var retainHourly = 35.0
    @Option(name: .long, help: "Days daily traffic samples are kept.") var retainDaily = 400.0

    func run() async throws {
        var logger = Logger(label: "tollgate")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        // Before any component makes its counters: they bind to the backend of that moment.
        TollgateMetrics.bootstrap()
        try await CLIError.reporting {
            var startedSlapd: ManagedSlapd?
            let directory: DirectoryOptions
            var defaultCRLHost = "ldap://127.0.0.1:\(ManagedSlapd.defaultPort)"
            if let ldapUrl {
                directory = try DirectoryOptions.parse(["--ldap-url", ldapUrl] + (bindDn.map { ["--bind-dn", $0] } ?? [])
                                                       + (passwordFile.map { ["--password-file", $0] } ?? []))
                if demo { logger.warning("--demo applies to the managed slapd only; ignored with --ldap-url") }
                defaultCRLHost = ldapUrl
            } else {
                var slapd = ManagedSlapd(dataDirectory: data, ldapPort: ldapPort)
                slapd.additionalListeners = ldapListen
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
                defaultCRLHost = slapd.ldapURL
            }
            let store = DirectoryStore(client: LDAPClient(configuration: try directory.configuration(maximumConnections: max(1, ldapConnections))))
            let syncConfiguration = try directory.configuration(maximumConnections: 1)
            // Writes go through one connection of their own, in groups (one LDAP
            // transaction, one sync to disk, per group): see BatchedWriter.
            let writeLogger = logger
            let writer = BatchedWriter(client: LDAPClient(configuration: try directory.configuration(maximumConnections: 1)),
                                       maximumBatch: writeBatch) { message in
                writeLogger.warning("directory write: \(message)")
            }
            let monitorConfiguration = try directory.configuration(maximumConnections: max(1, monitorLdapConnections))
            do {
                try await serve(store: store, writer: writer, syncConfiguration: syncConfiguration, monitorConfiguration: monitorConfiguration,
                                crlLDAP: Self.crlURL(crlLdapUrl ?? defaultCRLHost, store.layout),
                                logger: logger)
            } catch {
                await writer.drain(timeout: 10)
                await writer.client.close()
                await store.client.close()
                if let startedSlapd { _ = try? await startedSlapd.stop() }
                throw error
            }
            await writer.drain()
            await writer.client.close()
            await store.client.close()
            if let startedSlapd {
                _ = try await startedSlapd.stop()
                logger.info("stopped the managed slapd")
            }
        }
    }

    /// The mail configuration from the flags; writes `DIR/mail-settings.json` for the CLI.
    private func mailSetup(urlHost: String, scheme: String) throws -> (configuration: MailConfiguration, mailer: ApplicationMailer) {
        let mode: MailConfiguration.StartTLSMode
        switch smtpStarttls ?? (smtpUser != nil ? "required" : "opportunistic") {
        case "required": mode = .required
        case "opportunistic": mode = .opportunistic
        case "off", "none": mode = .none
        case let other: throw ValidationError("--smtp-starttls \(other): use required, opportunistic or off")
        }
        var password: String?
        if smtpUser != nil {
            if let smtpPasswordFile {
                password = try String(contentsOfFile: smtpPasswordFile, encoding: .utf8).trimmingCharacters(in: .newlines)
            } else if let env = ProcessInfo.processInfo.environment["TOLLGATE_SMTP_PASSWORD"] {
                password = env
            } else {
                throw ValidationError("--smtp-user needs --smtp-password-file FILE or TOLLGATE_SMTP_PASSWORD")
            }
        }
        let configuration = MailConfiguration(host: smtpHost, port: smtpPort, startTLS: mode, trustRootsPEMFile: smtpCaFile,
                                              username: smtpUser, password: password, from: mailFrom)
        do {
            try MailMessage(from: mailFrom, to: [mailFrom], subject: "", text: "").validate()
        } catch {
            throw ValidationError("--mail-from \(mailFrom): \(error)")
        }
        let base = publicUrl ?? "\(scheme)://\(urlHost):\(port)"
        let mailer = ApplicationMailer(spool: try MailSpool(directory: data), from: mailFrom, forDelivery: smtpHost != nil, publicURL: base)
        try MailSettings(from: mailFrom, publicURL: base, delivery: smtpHost != nil ? "smtp" : "outbox").save(directory: data)
        return (configuration, mailer)
    }

    /// `ldap://HOST:PORT` becomes the full CRL URL of the CA entry; a URL with a path is kept.
    static func crlURL(_ url: String, _ layout: DirectoryLayout) -> String {
        let afterScheme = url.range(of: "://").map { url[$0.upperBound...] } ?? Substring(url)
        if let slash = afterScheme.firstIndex(of: "/"), afterScheme[slash...].count > 1 { return url }
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        return "\(base)/\(layout.certificateAuthority)?certificateRevocationList"
    }

    /// The monitor's settings from the flags.
    private func monitorSettings() throws -> MonitorSettings? {
        switch monitor {
        case "on": break
        case "off": return nil
        default: throw ValidationError("--monitor \(monitor): use on or off")
        }
        var settings = MonitorSettings()
        settings.probeInterval = probeInterval
        settings.probeConcurrency = probeConcurrency
        settings.probeTimeout = probeTimeout
        settings.expiryWarningDays = expiryWarningDays
        settings.downAfter = downAfter
        settings.flapLimit = flapLimit
        settings.flapWindow = flapWindow
        settings.trafficPageSize = trafficPageSize
        settings.collectBatch = collectBatch
        settings.collectBatchWait = collectBatchWait
        settings.collectBatchesInFlight = max(1, monitorLdapConnections)
        settings.rollupInterval = rollupInterval
        settings.retain5m = retain5m * 86_400
        settings.retainHourly = retainHourly * 86_400
        settings.retainDaily = retainDaily * 86_400
        do {
            try settings.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        return settings
    }

    private func serve(store: DirectoryStore, writer: BatchedWriter, syncConfiguration: LDAPConfiguration,
                       monitorConfiguration: LDAPConfiguration, crlLDAP: String,
                       logger: Logger) async throws {
        let pki = URL(fileURLWithPath: data).appendingPathComponent("pki")
        let authority = try CertificateAuthority(directory: pki)
        try await store.publishCACertificates([Data(authority.rootCertificateDER), Data(authority.issuingCertificateDER)])
        let scheme = plainHttp ? "http" : "https"
        let urlHost = host.contains(":") ? "[\(host)]" : host
        let profile = LeafProfile(validity: TimeInterval(certValidityDays) * 86_400,
                                  crlDistributionPoints: [crlLDAP, "\(scheme)://\(urlHost):\(port)/pki/crl"])
        let mail = try mailSetup(urlHost: urlHost, scheme: scheme)
        let batchedWriter = writeBatch > 1 ? writer : nil
        let applications = ApplicationService(store: store, rules: try reviewRules.map { try ReviewRules.load(path: $0) } ?? .default,
                                              logger: logger, writer: batchedWriter, mailer: mail.mailer)
        let delivery = MailDelivery(
            configuration: mail.configuration, spool: mail.mailer.spool,
            retryPolicy: MailRetryPolicy(initial: .milliseconds(Int(mailRetryInitial * 1000)), multiplier: 2,
                                         maximum: .milliseconds(Int(mailRetryMax * 1000))),
            pollInterval: .milliseconds(Int(mailPollInterval * 1000)), logger: logger,
            heldResolver: ReportMailer.heldResolver(store: store, fallback: ApplicationMailer.heldResolver(applications: applications)),
            onEvent: ApplicationMailer.historyHandler(HistoryRecorder(store: store, writer: batchedWriter, logger: logger)))
        let enrollment = EnrollmentService(authority: authority, store: store, profile: profile, retryAfter: retryAfter,
                                           writer: writeBatch > 1 ? writer : nil, credentialCache: CredentialCache(ttl: max(0, credentialCacheSeconds)),
                                           logger: logger)
        let tls = try plainHttp ? nil : ServerIdentity(
            authority: authority,
            dnsNames: tlsNames.isEmpty ? ["localhost"] : tlsNames,
            ipAddresses: tlsAddresses.isEmpty ? Array(Set(["127.0.0.1"] + (IPAddress(host) != nil ? [host] : []))).sorted() : tlsAddresses
        ).tlsConfiguration(authority: authority)
        // Access decisions: a replica of the destinations fed by RFC 4533 content
        // synchronisation, history counts written once per period.
        let replica = PolicyReplica(staleBound: accessStaleSeconds)
        let history = AccessHistory(store: store, writer: writeBatch > 1 ? writer : nil,
                                    limits: .init(period: accessHistorySeconds, deniesPerConverter: accessDenyEvents))
        let access = AccessService(replica: replica, history: history, ttl: accessTtl, logger: logger)
        // The HTTP server is the last service, so it stops first; then the history is
        // written and the writer flushes.
        var services: [any Service] = []
        if writeBatch > 1 { services.append(BatchedWriterService(writer: writer, logger: logger)) }
        services.append(AccessHistoryService(history: history, logger: logger))
        services.append(ReplicaSyncService(session: ContentSyncSession(configuration: syncConfiguration, replica: replica,
                                                                       layout: store.layout, logger: logger)))
        services.append(CRLRefreshService(publisher: CRLPublisher(authority: authority, store: store), logger: logger))
        services.append(delivery)
        // Reports: signed links under DIR/secrets/report-link.key, mailed through the spool.
        let periods = try ReportScheduler.parsePeriods(reportPeriods)
        let reportKey = try ReportLink.loadOrCreateKey(dataDirectory: data)
        let reportSource = ReportSource(store: store)
        if !periods.isEmpty {
            let runner = ReportRunner(source: reportSource, key: reportKey, publicURL: mail.mailer.publicURL ?? "\(scheme)://\(urlHost):\(port)",
                                      linkDays: reportLinkDays,
                                      mailer: ReportMailer(spool: mail.mailer.spool, from: mailFrom, forDelivery: mail.mailer.forDelivery),
                                      logger: logger)
            services.append(ReportScheduler(runner: runner, periods: periods, checkInterval: max(1, reportCheckSeconds),
                                            settleSeconds: max(0, reportSettleSeconds), concurrency: max(1, reportJobs), logger: logger))
        }
        if metricsListen != "off" {
            guard let listen = MetricsEndpoint.parseListen(metricsListen) else {
                throw ValidationError("--metrics-listen \(metricsListen): use HOST:PORT (e.g. 127.0.0.1:9464) or off")
            }
            services.append(MetricsEndpoint.application(host: listen.host, port: listen.port, logger: logger))
        }
        if let settings = try monitorSettings() {
            let monitor = try MonitorServices.make(
                settings: settings, authority: authority, layout: store.layout, client: LDAPClient(configuration: monitorConfiguration),
                writer: writer, mailer: HealthMailer(spool: mail.mailer.spool, from: mailFrom, forDelivery: smtpHost != nil), logger: logger)
            services.append(monitor.scheduler)
            services.append(monitor.rollups)
            logger.info("converter monitoring on", metadata: ["interval": "\(settings.probeInterval)", "concurrency": "\(settings.probeConcurrency)",
                                                              "collectBatch": "\(settings.collectBatch)", "collectBatchWait": "\(settings.collectBatchWait)"])
            // One kept-alive connection per converter: 10,000 converters need more than the
            // usual soft limit of 1,024 open files.
            if let limit = OpenFilesLimit.raiseToHard() {
                if limit.after > limit.before {
                    logger.notice("raised the open-files limit to the hard limit for the monitor's connections",
                                metadata: ["before": "\(limit.before)", "after": "\(limit.after)"])
                } else {
                    logger.notice("open-files limit", metadata: ["soft": "\(limit.after)",
                                                               "converters": "at most about \(max(0, Int(clamping: limit.after) - OpenFilesLimit.reserve))"])
                }
            }
        }
        let app = try TollgateServer.application(
            configuration: .init(host: host, port: port, version: TollgateVersion.string, tls: tls, publicURL: publicUrl,
                                 accessFastPath: !noAccessFastPath, eventLoopThreads: eventLoopThreads),
            store: store, authority: authority, enrollment: enrollment, applications: applications,
            access: access, reports: ReportController(source: reportSource, key: reportKey), services: services, logger: logger)
        try await app.runService()
    }
}
