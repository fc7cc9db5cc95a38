import Access
import CertificateAuthority
import Directory
import EST
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import ServiceLifecycle
import NIOCore
import NIOPosix
import NIOSSL
import Reports
import Subscription

/// Builds Tollgate's HTTPS application: the routes of every service on one router.
public enum TollgateServer {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var version: String
        /// TLS settings; nil serves plain HTTP (tests and development only).
        public var tls: TLSConfiguration?
        /// Public base URL for links the server shows (the form's status URL); nil: the
        /// request's own host.
        public var publicURL: String?
        /// Answer `POST /v1/access/check` on the event loop (``AccessFastPathHandler``)
        /// instead of through the router.
        public var accessFastPath: Bool
        /// Event-loop threads of the HTTPS server; nil: NIO's shared group (one per CPU).
        public var eventLoopThreads: Int?

        public init(host: String, port: Int, version: String, tls: TLSConfiguration?, publicURL: String? = nil,
                    accessFastPath: Bool = true, eventLoopThreads: Int? = nil) {
            self.host = host
            self.port = port
            self.version = version
            self.tls = tls
            self.publicURL = publicURL
            self.accessFastPath = accessFastPath
            self.eventLoopThreads = eventLoopThreads
        }
    }

    public static func application(
        configuration: Configuration, store: DirectoryStore, authority: CertificateAuthority,
        enrollment: EnrollmentService, applications: ApplicationService? = nil, access: AccessService? = nil,
        reports: ReportController? = nil,
        services: [any Service] = [], logger: Logger
    ) throws -> some ApplicationProtocol {
        let router = Router(context: TollgateRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.debug))
        HealthController(store: store, version: configuration.version, replica: access?.replica).addRoutes(to: router)
        PKIController(authority: authority, store: store).addRoutes(to: router)
        ESTController(service: enrollment).addRoutes(to: router)
        if let applications {
            ApplicationController(service: applications).addRoutes(to: router)
            ApplicationFormController(service: applications, scheme: configuration.tls == nil ? "http" : "https",
                                      publicURL: configuration.publicURL).addRoutes(to: router)
        }
        access.map { AccessController(service: $0).addRoutes(to: router) }
        reports?.addRoutes(to: router)
        let fastPathService = configuration.accessFastPath ? access : nil
        let http1: HTTPServerBuilder = .http1(configuration: .init(
            additionalChannelHandlers: fastPathService.map { [AccessFastPathHandler(service: $0)] } ?? []))
        let server: HTTPServerBuilder = try configuration.tls.map { try .tls(http1, tlsConfiguration: $0) } ?? http1
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "tollgate/\(configuration.version)"),
            services: services,
            // A group of its own lives as long as the process, like NIO's shared one.
            eventLoopGroupProvider: configuration.eventLoopThreads
                .map { .shared(MultiThreadedEventLoopGroup(numberOfThreads: max(1, $0))) } ?? .singleton,
            logger: logger
        )
    }
}
