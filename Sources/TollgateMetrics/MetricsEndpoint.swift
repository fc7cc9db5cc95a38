import Hummingbird
import Logging

/// `GET /metrics`: the Prometheus text exposition of ``TollgateMetrics``.
///
/// `tollgate serve --metrics-listen HOST:PORT` serves it on a plain-HTTP listener of its
/// own (``application(host:port:logger:)``), not on the public HTTPS port: the metrics name
/// tenants' activity and internals, so only operators (a Prometheus on the same host or an
/// internal network) should reach them.
public enum MetricsEndpoint {
    /// Adds `GET /metrics` to `router`.
    public static func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: TollgateMetrics.exposition())))
        }
    }

    /// A plain-HTTP application serving only `/metrics` on `host:port` (a `Service`).
    public static func application(host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        addRoutes(to: router)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tollgate-metrics"),
                           logger: logger)
    }

    /// Parses `HOST:PORT` (`[v6]:PORT` for IPv6); nil when malformed.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }
}
