import Directory
import Hummingbird
import Logging

/// Builds Tollgate's HTTP application: the routes of every service on one router.
///
/// Until the CA issue lands the listener speaks plain HTTP; HTTPS and mTLS (EST, the
/// converter API) are added with the CA.
public enum TollgateServer {
    public static func application(
        store: DirectoryStore, host: String, port: Int, version: String, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: LogRequestsMiddleware(.debug))
        HealthController(store: store, version: version).addRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "tollgate/\(version)"),
            logger: logger
        )
    }
}
