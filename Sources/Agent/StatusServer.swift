import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// The agent's monitoring endpoint (`--status-listen`): HTTPS with the converter's enrolled
/// certificate, client certificate required and verified against Tollgate's CA (`ca.pem`),
/// and only `CN=tollgate-monitor, O=Tollgate` let in (other valid certificates get 403).
///
/// - `GET /v1/status` → ``AgentStatusReport``
/// - `GET /v1/traffic?after=SEQ&limit=N` → `{"records":[…],"last":SEQ,"more":bool}`; `after`
///   acknowledges every record ≤ SEQ (``TrafficJournal/read(after:limit:)``).
///
/// One request per connection (`Connection: close`), request target and body bounded, 30 s
/// per connection, at most 64 connections at a time. Errors are JSON `{"error":"…"}`: 400 bad query, 403 wrong client,
/// 404 unknown path, 405 not GET, 413 request too large.
public final class StatusServer: Sendable {
    /// Where to listen: `HOST:PORT` (`[v6]:PORT`), or nil for `off`.
    public struct Listen: Sendable, Equatable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `--status-listen`; nil for `off`.
        public static func parse(_ text: String) throws(AgentError) -> Listen? {
            if text == "off" { return nil }
            guard let colon = text.lastIndex(of: ":") else {
                throw .usage("--status-listen must be HOST:PORT (e.g. 0.0.0.0:9443) or off (got \"\(text)\")")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
                throw .usage("--status-listen must be HOST:PORT with a port 0-65535, or off (got \"\(text)\")")
            }
            return Listen(host: host, port: port)
        }
    }

    /// The subject a monitor's client certificate must have.
    public static let monitorCommonName = "tollgate-monitor"
    public static let monitorOrganization = "Tollgate"
    /// Largest request body accepted (a GET has none).
    static let maximumBody = 16 * 1024
    /// Longest request target accepted.
    static let maximumURI = 2048

    public let listen: Listen
    private let journal: TrafficJournal
    private let status: @Sendable () async -> AgentStatusReport
    private let logger: Logger
    private let context: Mutex<NIOSSLContext>
    private let boundPort = Mutex<Int?>(nil)
    /// Connections being served; beyond `maximumConnections` new ones are closed at once.
    private let active = Mutex(0)
    static let maximumConnections = 64

    public init(listen: Listen, identity: AgentIdentity, journal: TrafficJournal, logger: Logger = Logger(label: "tollgate-agent.status"),
                status: @escaping @Sendable () async -> AgentStatusReport) throws(AgentError) {
        self.listen = listen
        self.journal = journal
        self.status = status
        self.logger = logger
        context = Mutex(try Self.makeContext(identity))
    }

    /// The TLS server context from the identity: its certificate with the issuing CA, its
    /// key, client certificates required and verified against the CA bundle.
    static func makeContext(_ identity: AgentIdentity) throws(AgentError) -> NIOSSLContext {
        do {
            let leaf = try NIOSSLCertificate(bytes: Array(identity.certificate.pem.utf8), format: .pem)
            let issuing = try CABundle.nioCertificates(identity.ca.issuing)
            let key = try NIOSSLPrivateKey(bytes: Array(identity.key.pem.utf8), format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: ([leaf] + issuing).map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(try identity.ca.trustRoots())
            configuration.shutdownTimeout = .milliseconds(500)
            return try NIOSSLContext(configuration: configuration)
        } catch let error as AgentError {
            throw error
        } catch {
            throw .localFiles("cannot serve the status endpoint with agent.pem/agent.key: \(error)")
        }
    }

    /// Uses a renewed certificate and key for new connections.
    public func reload(identity: AgentIdentity) throws(AgentError) {
        let fresh = try Self.makeContext(identity)
        context.withLock { $0 = fresh }
    }

    /// The port actually bound (useful with port 0), once listening.
    public var port: Int? { boundPort.withLock { $0 } }

    /// Listens and serves until the task is cancelled.
    public func run() async throws(AgentError) {
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: listen.host, port: listen.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let current = self.context.withLock { $0 }
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: current))
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .usage("cannot listen on \(listen.host):\(listen.port) for --status-listen: \(error)")
        }
        let bound = server.channel.localAddress?.port
        boundPort.withLock { $0 = bound }
        logger.info("status endpoint listening", metadata: ["address": "\(listen.host):\(bound ?? listen.port)"])
        do {
            try await withTaskCancellationHandler {
                try await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in inbound {
                            let admitted = self.active.withLock { count in
                                guard count < Self.maximumConnections else { return false }
                                count += 1
                                return true
                            }
                            guard admitted else {
                                connection.channel.close(promise: nil)
                                continue
                            }
                            group.addTask {
                                await self.serve(connection)
                                self.active.withLock { $0 -= 1 }
                            }
                        }
                    }
                }
            } onCancel: {
                server.channel.close(promise: nil)
            }
        } catch {
            if !Task.isCancelled { logger.warning("status endpoint stopped", metadata: ["error": "\(error)"]) }
        }
    }

    // MARK: - One connection

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await self.exchange(connection)
                } catch {
                    self.logger.debug("status connection failed", metadata: ["error": "\(error)"])
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
            }
            _ = await group.next()
            group.cancelAll()
            connection.channel.close(promise: nil)
        }
    }

    private func exchange(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        let channel = connection.channel
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var bodySize = 0
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                case .body(let chunk):
                    // Read (and discard) up to 1 MiB so the client sees the 413; beyond, just close.
                    bodySize += chunk.readableBytes
                    if bodySize > 1024 * 1024 { return }
                case .end:
                    guard let head else { return }
                    let response = bodySize > Self.maximumBody
                        ? Response(status: .payloadTooLarge, error: "request body larger than \(Self.maximumBody) bytes")
                        : await self.respond(to: head, channel: channel)
                    try await Self.write(response, to: outbound)
                    return
                }
            }
        }
    }

    struct Response {
        var status: HTTPResponseStatus
        var body: Data
        var allow: String?

        init(status: HTTPResponseStatus, body: Data, allow: String? = nil) {
            self.status = status
            self.body = body
            self.allow = allow
        }

        init(status: HTTPResponseStatus, error message: String, allow: String? = nil) {
            self.status = status
            self.body = (try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys])) ?? Data("{}".utf8)
            self.allow = allow
        }
    }

    private static func write(_ response: Response, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(response.body.count + 1))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Cache-Control", value: "no-store")
        if let allow = response.allow { headers.add(name: "Allow", value: allow) }
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body + Data("\n".utf8)))))
        try await outbound.write(.end(nil))
    }

    /// Whether the client certificate is the monitor's: `CN=tollgate-monitor, O=Tollgate`.
    static func isMonitor(_ certificate: NIOSSLCertificate?) -> Bool {
        guard let certificate, let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return false }
        return AgentCertificate.attribute(.RDNAttributeType.commonName, of: parsed.subject) == monitorCommonName
            && AgentCertificate.attribute(.RDNAttributeType.organizationName, of: parsed.subject) == monitorOrganization
    }

    private func respond(to head: HTTPRequestHead, channel: any Channel) async -> Response {
        let peer = try? await channel.nioSSL_peerCertificate().get()
        guard Self.isMonitor(peer) else {
            return Response(status: .forbidden, error: "only the Tollgate monitor's certificate (CN=\(Self.monitorCommonName), O=\(Self.monitorOrganization)) may read this endpoint")
        }
        guard head.uri.utf8.count <= Self.maximumURI else {
            return Response(status: .badRequest, error: "request target longer than \(Self.maximumURI) bytes")
        }
        let (path, query) = Self.split(head.uri)
        guard path == "/v1/status" || path == "/v1/traffic" else {
            return Response(status: .notFound, error: "no such endpoint: \(path) (try /v1/status or /v1/traffic)")
        }
        guard head.method == .GET else {
            return Response(status: .methodNotAllowed, error: "\(head.method.rawValue) is not allowed on \(path): use GET", allow: "GET")
        }
        if path == "/v1/status" {
            return Self.json(await status())
        }
        let parameters: (after: UInt64, limit: Int)
        switch Self.trafficParameters(query) {
        case .success(let parsed): parameters = parsed
        case .failure(let error): return Response(status: .badRequest, error: error.description)
        }
        let journal = journal
        do {
            let page = try await BlockingIO.run { () throws(AgentError) -> TrafficJournal.Page in
                do { try journal.ingestSpool() } catch { /* the page is still served; the sampler logs spool trouble */ }
                return try journal.read(after: parameters.after, limit: parameters.limit)
            }
            return Self.json(TrafficPage(records: page.records, last: page.last, more: page.more))
        } catch {
            logger.warning("cannot read the traffic journal", metadata: ["error": "\(error)"])
            return Response(status: .internalServerError, error: "cannot read the traffic journal: \(error)")
        }
    }

    struct TrafficPage: Encodable {
        var records: [JournalRecord]
        var last: UInt64
        var more: Bool
    }

    static func json(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Response(status: .ok, body: try encoder.encode(value))
        } catch {
            return Response(status: .internalServerError, error: "cannot encode the answer: \(error)")
        }
    }

    static func split(_ uri: String) -> (path: String, query: Substring) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, "") }
        return (String(uri[..<mark]), uri[uri.index(after: mark)...])
    }

    /// `after` (default 0) and `limit` (default 1000, 1–10000) from a query string.
    public static func trafficParameters(_ query: Substring) -> Result<(after: UInt64, limit: Int), AgentError> {
        var after: UInt64 = 0
        var limit = 1000
        var seen: Set<String> = []
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            guard name == "after" || name == "limit" else { continue }
            guard seen.insert(name).inserted else { return .failure(.usage("\(name) is given twice")) }
            guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                return .failure(.usage("\(name) must be a non-negative integer (got \"\(value.prefix(40))\")"))
            }
            if name == "after" {
                guard let number = UInt64(value) else { return .failure(.usage("after is too large: \(value.prefix(40))")) }
                after = number
            } else {
                guard let number = Int(value), (1...10_000).contains(number) else {
                    return .failure(.usage("limit must be 1-10000 (got \(value.prefix(40)))"))
                }
                limit = number
            }
        }
        return .success((after, limit))
    }
}
