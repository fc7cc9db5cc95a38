import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where Tollgate listens: parsed from `--server https://HOST:PORT[/PATH]`.
public struct ServerEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Path prefix without a trailing slash ("" for none).
    public var basePath: String

    public init(url text: String) throws(AgentError) {
        guard let url = URL(string: text), url.scheme?.lowercased() == "https", var host = url.host, !host.isEmpty else {
            throw .usage("--server must be an https:// URL such as https://tollgate.example:8443 (got \"\(text)\")")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host
        self.port = url.port ?? 443
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
        guard (1...65535).contains(port) else { throw .usage("--server has an invalid port: \(text)") }
        guard url.query == nil, url.user == nil else { throw .usage("--server takes no query or user part: \(text)") }
    }

    /// `HOST:PORT` (IPv6 in brackets) for the Host header and messages.
    public var authority: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public var description: String { "https://\(authority)\(basePath)" }

    /// Whether `host` is an IP address literal (then the certificate's IP SANs are checked
    /// against the connected address, and no SNI is sent).
    var hostIsAddress: Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// How a connection authenticates the server and itself.
public struct TLSSettings: Sendable {
    /// Trust anchors for the server certificate; nil: do not verify (only for a first
    /// `/cacerts` fetch whose answer is then checked by fingerprint or explicitly trusted).
    public var trustRoots: [NIOSSLCertificate]?
    /// Client certificate chain and key for mutual TLS.
    public var certificateChain: [NIOSSLCertificate]
    public var privateKey: NIOSSLPrivateKey?

    public init(trustRoots: [NIOSSLCertificate]?, certificateChain: [NIOSSLCertificate] = [], privateKey: NIOSSLPrivateKey? = nil) {
        self.trustRoots = trustRoots
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }
}

/// One HTTP answer.
public struct HTTPSResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The human part of an error answer: `message` of a JSON error, else the text.
    public var errorMessage: String {
        if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            let message = (object["message"] as? String) ?? (object["error"] as? String) ?? text
            if let field = object["field"] as? String { return "\(message) (field \(field))" }
            return message
        }
        return text
    }
}

/// A small HTTPS/1.1 client on SwiftNIO: one connection per request (`Connection: close`),
/// bounded answer size, a deadline for the whole exchange. Enough for EST, access checks
/// and policy long-polls; the agent makes a handful of requests a minute.
public struct HTTPSClient: Sendable {
    public let endpoint: ServerEndpoint
    private let context: NIOSSLContext
    /// The largest answer body accepted.
    public static let maximumBody = 8 * 1024 * 1024

    public init(endpoint: ServerEndpoint, tls: TLSSettings) throws(AgentError) {
        self.endpoint = endpoint
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        // Closing an abandoned long-poll must not wait 5 s for the server's close_notify.
        configuration.shutdownTimeout = .milliseconds(500)
        if let roots = tls.trustRoots {
            configuration.trustRoots = .certificates(roots)
            configuration.certificateVerification = .fullVerification
        } else {
            configuration.certificateVerification = .none
        }
        if let key = tls.privateKey {
            configuration.certificateChain = tls.certificateChain.map { .certificate($0) }
            configuration.privateKey = .privateKey(key)
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw .trust("cannot set up TLS: \(error)")
        }
    }

    /// Sends one request and returns the answer (any status).
    public func send(method: HTTPMethod, path: String, headers extra: [(String, String)] = [], body: [UInt8]? = nil,
                     timeout: Duration = .seconds(30)) async throws(AgentError) -> HTTPSResponse {
        let endpoint = endpoint
        let context = context
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: endpoint.authority)
        headers.add(name: "User-Agent", value: "tollgate-agent/\(AgentVersion.string)")
        headers.add(name: "Connection", value: "close")
        for (name, value) in extra { headers.add(name: name, value: value) }
        if let body { headers.add(name: "Content-Length", value: String(body.count)) }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: endpoint.basePath + path, headers: headers)
        let result: Result<HTTPSResponse, AgentError> = await withTaskGroup(of: Result<HTTPSResponse, AgentError>?.self) { group in
            group.addTask {
                do {
                    return .success(try await Self.exchange(endpoint: endpoint, context: context, head: head, body: body))
                } catch {
                    return .failure(Self.classify(error, endpoint: endpoint))
                }
            }
            group.addTask {
                do { try await Task.sleep(for: timeout) } catch { return nil }
                return .failure(.network("no complete answer from \(endpoint.authority) within \(timeout)"))
            }
            var outcome: Result<HTTPSResponse, AgentError> = .failure(.network("cancelled"))
            for await next in group {
                if let next {
                    outcome = next
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
        return try result.get()
    }

    private static func exchange(endpoint: ServerEndpoint, context: NIOSSLContext, head: HTTPRequestHead,
                                 body: [UInt8]?) async throws -> HTTPSResponse {
        let serverName = endpoint.hostIsAddress ? nil : endpoint.host
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(head))
            if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            var status = 0
            var headers: [(name: String, value: String)] = []
            var collected: [UInt8] = []
            loop: for try await part in inbound {
                switch part {
                case .head(let responseHead):
                    // 1xx interim answers are skipped.
                    if responseHead.status.code >= 200 {
                        status = Int(responseHead.status.code)
                        headers = responseHead.headers.map { ($0.name, $0.value) }
                    }
                case .body(let chunk):
                    guard collected.count + chunk.readableBytes <= maximumBody else {
                        throw AgentError.unexpectedResponse("answer larger than \(maximumBody) bytes")
                    }
                    collected += chunk.readableBytesView
                case .end:
                    if status != 0 { break loop }
                }
            }
            guard status != 0 else { throw AgentError.network("the connection closed before an answer arrived") }
            return HTTPSResponse(status: status, headers: headers, body: collected)
        }
    }

    /// Turns NIO/TLS errors into agent errors that say what to check.
    static func classify(_ error: any Error, endpoint: ServerEndpoint) -> AgentError {
        if let error = error as? AgentError { return error }
        if let error = error as? NIOSSLError {
            return .trust("TLS handshake with \(endpoint.authority) failed (\(error)): check that the server certificate chains to "
                          + "the agent's CA and names the host in --server, and that the agent's certificate is still accepted")
        }
        if let error = error as? NIOSSLExtraError {
            return .trust("TLS with \(endpoint.authority) failed: \(error)")
        }
        if error is BoringSSLError {
            return .trust("TLS with \(endpoint.authority) failed: \(error)")
        }
        if let error = error as? NIOConnectionError {
            let reasons = error.connectionErrors.map { failure -> String in
                if let io = failure.error as? IOError { return "\(failure.target): \(String(cString: strerror(io.errnoCode)))" }
                return "\(failure.target): \(failure.error)"
            }
            if let dns = error.dnsAAAAError ?? error.dnsAError, reasons.isEmpty {
                return .network("cannot resolve \(endpoint.host): \(dns)")
            }
            return .network("cannot connect to \(endpoint.authority) (\(reasons.isEmpty ? "\(error)" : reasons.joined(separator: "; ")))")
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return .network("connecting to \(endpoint.authority) timed out")
        }
        return .network("\(endpoint.authority): \(error)")
    }
}

/// The agent's version, sent as User-Agent.
public enum AgentVersion {
    public static let string = "0.2.0"
}
