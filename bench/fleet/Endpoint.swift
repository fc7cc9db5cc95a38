import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTPS listener of one simulated converter; can be stopped (connections refused)
/// and started again on the same port.
final class Endpoint: Sendable {
    let converter: SimulatedConverter
    let context: NIOSSLContext
    let group: MultiThreadedEventLoopGroup
    private struct State: Sendable {
        var port: Int
        var server: (any Channel)?
        var children: [ObjectIdentifier: any Channel] = [:]
    }
    private let state: Mutex<State>

    init(converter: SimulatedConverter, context: NIOSSLContext, group: MultiThreadedEventLoopGroup, port: Int) {
        self.converter = converter
        self.context = context
        self.group = group
        self.state = Mutex(State(port: port))
    }

    var port: Int { state.withLock { $0.port } }
    var running: Bool { state.withLock { $0.server != nil } }

    func start() async throws {
        if running { return }
        let context = context
        let converter = converter
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { [weak self] channel in
                self?.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(SimpleHTTPHandler(requireMonitor: true) { method, uri, _ in
                        Endpoint.respond(converter, method: method, uri: uri)
                    })
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        state.withLock {
            $0.server = server
            $0.port = server.localAddress?.port ?? $0.port
        }
    }

    /// Closes the listener and every open connection.
    func stop() async {
        let (server, children) = state.withLock { state -> ((any Channel)?, [any Channel]) in
            let result = (state.server, Array(state.children.values))
            state.server = nil
            state.children = [:]
            return result
        }
        try? await server?.close()
        for child in children { try? await child.close() }
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.children[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLock { $0.children.removeValue(forKey: id) }
        }
    }

    static func respond(_ converter: SimulatedConverter, method: HTTPMethod, uri: String) -> (HTTPResponseStatus, Any) {
        guard method == .GET else { return (.methodNotAllowed, ["error": "only GET"]) }
        let components = URLComponents(string: uri)
        switch components?.path {
        case "/v1/status":
            return (.ok, converter.status())
        case "/v1/traffic":
            var after: Int64 = 0
            var limit = 1000
            for item in components?.queryItems ?? [] {
                switch item.name {
                case "after":
                    guard let value = item.value.flatMap({ Int64($0) }), value >= 0 else { return (.badRequest, ["error": "after must be a seq ≥ 0"]) }
                    after = value
                case "limit":
                    guard let value = item.value.flatMap({ Int($0) }), (1...10_000).contains(value) else {
                        return (.badRequest, ["error": "limit must be 1…10000"])
                    }
                    limit = value
                default: break
                }
            }
            return (.ok, converter.traffic(after: after, limit: limit))
        default:
            return (.notFound, ["error": "no such resource"])
        }
    }
}
