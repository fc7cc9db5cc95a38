import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import X509

/// A keep-alive HTTPS connection to one converter's agent (`https://ADDRESS:PORT`).
///
/// The agent's certificate must chain to Tollgate's CA (checked by TLS) and be the
/// converter's own: its subject names the converter (`CN=<name>`, `OU=<org>` as EST
/// issues it). The address is not checked against the certificate: converters move.
/// Each request has its own timeout; a failed request closes the connection and the next
/// one opens a new one. Requests of one converter run one after the other.
public actor AgentConnection {
    public let orgNumber: String
    public let converter: String
    public let host: String
    public let port: Int
    private let context: NIOSSLContext
    private let timeout: TimeAmount
    private var channel: (any Channel)?

    public init(orgNumber: String, converter: String, host: String, port: Int, context: NIOSSLContext, timeout: Double) {
        self.orgNumber = orgNumber
        self.converter = converter
        self.host = host
        self.port = port
        self.context = context
        self.timeout = .milliseconds(Int64(max(0.05, timeout) * 1000))
    }

    var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// `GET path` (with query). A request on a kept connection that finds it closed by
    /// the agent is retried once on a new one.
    public func get(_ path: String) async throws(MonitorError) -> AgentResponse {
        let reused = channel?.isActive == true
        do {
            return try await send(path)
        } catch {
            if reused, case .unreachable = error {
                return try await send(path)
            }
            throw error
        }
    }

    /// Closes the connection (the next request opens a new one).
    public func close() {
        channel?.close(promise: nil)
        channel = nil
    }

    private func send(_ path: String) async throws(MonitorError) -> AgentResponse {
        let channel: any Channel
        if let current = self.channel, current.isActive {
            channel = current
        } else {
            self.channel?.close(promise: nil)
            self.channel = nil
            channel = try await connect()
            self.channel = channel
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: authority)
        headers.add(name: "User-Agent", value: "tollgate-monitor")
        headers.add(name: "Accept", value: "application/json")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        let promise = channel.eventLoop.makePromise(of: AgentResponse.self)
        let limit = timeout
        let authority = authority
        let timer = channel.eventLoop.scheduleTask(in: limit) {
            promise.fail(MonitorError.unreachable("no answer from \(authority) within \(Double(limit.nanoseconds) / 1e9) s"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush(AgentRequest(head: head, promise: promise), promise: nil)
        do {
            let response = try await promise.futureResult.get()
            timer.cancel()
            return response
        } catch {
            timer.cancel()
            self.channel = nil
            channel.close(promise: nil)
            throw Self.classify(error, authority: authority)
        }
    }

    private func connect() async throws(MonitorError) -> any Channel {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let handshake = loop.makePromise(of: Void.self)
        let context = context
        let authority = authority
        let timer = loop.scheduleTask(in: timeout) {
            handshake.fail(MonitorError.unreachable("no TLS handshake with \(authority) within the probe timeout"))
        }
        defer { timer.cancel() }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(AgentResponseHandler(handshake: handshake))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            handshake.fail(error)
            throw Self.classify(error, authority: authority)
        }
        do {
            try await handshake.futureResult.get()
            guard let peer = try await channel.nioSSL_peerCertificate().get() else {
                throw MonitorError.identity("\(authority) sent no certificate")
            }
            try verify(peer)
        } catch {
            channel.close(promise: nil)
            throw Self.classify(error, authority: authority)
        }
        return channel
    }

    /// The certificate must name this converter: CN = name and, when present, OU = org.
    private func verify(_ peer: NIOSSLCertificate) throws(MonitorError) {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: try peer.toDERBytes())
        } catch {
            throw .identity("cannot parse the certificate of \(authority): \(error)")
        }
        var commonNames: [String] = [], units: [String] = []
        for rdn in certificate.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.commonName, let text = String(attribute.value) { commonNames.append(text) }
                if attribute.type == .RDNAttributeType.organizationalUnitName, let text = String(attribute.value) { units.append(text) }
            }
        }
        guard commonNames == [converter], units.isEmpty || units == [orgNumber] else {
            throw .identity("\(authority) presented the certificate of \"\(certificate.subject)\", not of converter \(converter) of \(orgNumber): check ipHostNumber/tgStatusPort of the converter entry")
        }
    }

    static func classify(_ error: any Error, authority: String) -> MonitorError {
        if let error = error as? MonitorError { return error }
        if let error = error as? NIOSSLError {
            return .identity("TLS with \(authority) failed (\(error)): the agent's certificate must come from Tollgate's CA")
        }
        if error is NIOSSLExtraError || error is BoringSSLError {
            return .identity("TLS with \(authority) failed: \(error)")
        }
        if let error = error as? NIOConnectionError {
            let causes = error.connectionErrors.map { "\($0.error)" }.joined(separator: "; ")
            return .unreachable("cannot connect to \(authority): \(causes.isEmpty ? "\(error)" : causes)")
        }
        if let error = error as? IOError {
            return .unreachable("cannot connect to \(authority): \(error.description)")
        }
        if error is ChannelError {
            return .unreachable("connection to \(authority) failed: \(error)")
        }
        return .unreachable("request to \(authority) failed: \(error)")
    }
}
