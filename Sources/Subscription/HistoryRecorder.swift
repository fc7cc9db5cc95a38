import Directory
import Foundation
import Logging

/// Writes history events (store 204) for the subscription services: through a
/// ``BatchedWriter`` when one is given (queued, grouped into one LDAP transaction with
/// other writes, retried while the directory is down; the caller never waits), otherwise
/// synchronously. A failure is logged, never passed on: history must not fail a request.
public struct HistoryRecorder: Sendable {
    public let store: DirectoryStore
    public let writer: BatchedWriter?
    public let logger: Logger

    public init(store: DirectoryStore, writer: BatchedWriter? = nil, logger: Logger = Logger(label: "tollgate.history")) {
        self.store = store
        self.writer = writer
        self.logger = logger
    }

    /// Records `type` under tenant `orgNumber` (nil: the global history) with `data` as a
    /// JSON object.
    public func record(_ type: String, orgNumber: String? = nil, actor: String, data: [String: String]) async {
        await record(HistoryEvent(type: type, orgNumber: orgNumber, actor: actor, data: Self.json(data)))
    }

    public func record(_ event: HistoryEvent) async {
        do {
            if let writer { try store.record(event, writer: writer) } else { try await store.record(event) }
        } catch {
            logger.warning("could not record \(event.type) in the history",
                           metadata: ["org": "\(event.orgNumber ?? "-")", "error": "\(error)"])
        }
    }

    /// A JSON object text with sorted keys.
    public static func json(_ fields: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(fields)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }
}
