import Foundation
import NIOCore
import NIOHTTP1

/// The control API of the simulator (plain HTTP on 127.0.0.1):
/// - `GET /totals`: what all converters produced, the last seq and the acknowledged seq
///   of each (`{"totals":{…},"converters":{"sim-00000":{"last":N,"acked":M,"running":true}}}`)
/// - `POST /stop/NAME`, `/start/NAME`: close or reopen a converter's port
/// - `POST /degrade/NAME`, `/recover/NAME`: status health degraded / ok
/// - `POST /freeze`, `/thaw`: stop / resume producing records (all converters)
final class Fleet: Sendable {
    let endpoints: [Endpoint]
    let byName: [String: Endpoint]

    init(endpoints: [Endpoint]) {
        self.endpoints = endpoints
        self.byName = Dictionary(uniqueKeysWithValues: endpoints.map { ($0.converter.name, $0) })
    }

    func control(method: HTTPMethod, uri: String) -> (HTTPResponseStatus, Any) {
        let parts = uri.split(separator: "/").map(String.init)
        switch (method, parts.first) {
        case (.GET, "totals"):
            var totals = SimulatedConverter.Totals()
            var converters: [String: Any] = [:]
            for endpoint in endpoints {
                let snapshot = endpoint.converter.snapshot()
                let t = snapshot.totals
                totals.records += t.records
                totals.trafficRecords += t.trafficRecords
                totals.accessRecords += t.accessRecords
                totals.bytesIn += t.bytesIn
                totals.bytesOut += t.bytesOut
                totals.packetsIn += t.packetsIn
                totals.packetsOut += t.packetsOut
                totals.allowed += t.allowed
                totals.denied += t.denied
                converters[endpoint.converter.name] = ["last": Int(snapshot.last), "acked": Int(snapshot.acked), "running": endpoint.running,
                                                       "bytesIn": Int(t.bytesIn), "bytesOut": Int(t.bytesOut)] as [String: Any]
            }
            let object: [String: Int] = ["records": Int(totals.records), "trafficRecords": Int(totals.trafficRecords),
                                         "accessRecords": Int(totals.accessRecords), "bytesIn": Int(totals.bytesIn), "bytesOut": Int(totals.bytesOut),
                                         "packetsIn": Int(totals.packetsIn), "packetsOut": Int(totals.packetsOut),
                                         "allowed": Int(totals.allowed), "denied": Int(totals.denied)]
            return (.ok, ["totals": object, "converters": converters])
        case (.POST, "freeze"):
            for endpoint in endpoints { endpoint.converter.setFrozen(true) }
            return (.ok, ["frozen": true])
        case (.POST, "thaw"):
            for endpoint in endpoints { endpoint.converter.setFrozen(false) }
            return (.ok, ["frozen": false])
        case (.POST, let action?) where parts.count == 2:
            guard let endpoint = byName[parts[1]] else { return (.notFound, ["error": "no converter \(parts[1])"]) }
            switch action {
            case "stop":
                // Not awaited: this runs on an event loop. `running` in /totals tells when done.
                Task { await endpoint.stop() }
                return (.ok, ["stopping": parts[1]])
            case "start":
                Task { try? await endpoint.start() }
                return (.ok, ["starting": parts[1]])
            case "degrade":
                endpoint.converter.setDegraded(true)
                return (.ok, ["degraded": parts[1]])
            case "recover":
                endpoint.converter.setDegraded(false)
                return (.ok, ["recovered": parts[1]])
            default:
                return (.notFound, ["error": "unknown action \(action)"])
            }
        default:
            return (.notFound, ["error": "GET /totals, POST /stop/NAME, /start/NAME, /degrade/NAME, /recover/NAME, /freeze, /thaw"])
        }
    }
}
