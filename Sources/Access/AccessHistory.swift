import Directory
import Foundation
import Synchronization

/// Per-converter access history (store 205), aggregated in memory and written in
/// batches: never one LDAP write per decision.
///
/// Each period (``Limits/period``, default a minute) produces, per converter that asked
/// anything, one `access.summary` event with allowed/denied counts per destination
/// (`"10.20.3.4 tcp/443"`; past ``Limits/destinationsPerConverter`` distinct
/// destinations the rest is counted under `otherDestinations`), plus one
/// `access.denied` event per refusal with its reason and rule — at most
/// ``Limits/deniesPerConverter`` per converter and ``Limits/deniesPerPeriod`` in all;
/// refusals beyond that are only counted (`deniesNotRecorded` in the summary), so a
/// flood of refused requests cannot flood the directory. Events go under the tenant's
/// `ou=history` with the converter's name, through the server's ``BatchedWriter``.
public final class AccessHistory: Sendable {
    public struct Limits: Sendable {
        public var period: TimeInterval
        public var deniesPerConverter: Int
        public var deniesPerPeriod: Int
        public var destinationsPerConverter: Int

        public init(period: TimeInterval = 60, deniesPerConverter: Int = 20, deniesPerPeriod: Int = 1000,
                    destinationsPerConverter: Int = 256) {
            self.period = max(0.1, period)
            self.deniesPerConverter = max(0, deniesPerConverter)
            self.deniesPerPeriod = max(0, deniesPerPeriod)
            self.destinationsPerConverter = max(1, destinationsPerConverter)
        }
    }

    public let store: DirectoryStore
    public let writer: BatchedWriter?
    public let limits: Limits

    private struct Counts {
        var allowed = 0
        var denied = 0
    }

    private struct Bucket {
        var counts: [String: Counts] = [:]
        var other = Counts()
        var denies: [HistoryEvent] = []
        var deniesNotRecorded = 0
    }

    private struct Key: Hashable {
        var org: String
        var converter: String
    }

    private struct State {
        var start = Date()
        var buckets: [Key: Bucket] = [:]
        var denies = 0
    }
    private let state = Mutex(State())

    public init(store: DirectoryStore, writer: BatchedWriter?, limits: Limits = Limits()) {
        self.store = store
        self.writer = writer
        self.limits = limits
    }

    /// Counts one decision; keeps the refusal as an event if within the limits.
    public func record(_ identity: ConverterIdentity, destination: String, query: AccessQuery, decision: AccessDecision,
                       now: Date = Date()) {
        let key = Key(org: identity.org, converter: identity.name)
        let label = "\(destination) \(query.description)"
        state.withLock { state in
            var bucket = state.buckets.removeValue(forKey: key) ?? Bucket()
            if bucket.counts[label] != nil || bucket.counts.count < limits.destinationsPerConverter {
                if decision.allow { bucket.counts[label, default: Counts()].allowed += 1 } else { bucket.counts[label, default: Counts()].denied += 1 }
            } else {
                if decision.allow { bucket.other.allowed += 1 } else { bucket.other.denied += 1 }
            }
            if !decision.allow {
                if bucket.denies.count < limits.deniesPerConverter && state.denies < limits.deniesPerPeriod {
                    state.denies += 1
                    bucket.denies.append(Self.denyEvent(identity, destination: destination, query: query, decision: decision, now: now))
                } else {
                    bucket.deniesNotRecorded += 1
                }
            }
            state.buckets[key] = bucket
        }
    }

    /// Writes what was collected since the last flush (queued on the writer, or written
    /// directly without one); returns the number of events.
    @discardableResult
    public func flush(now: Date = Date()) async -> Int {
        let (start, buckets) = state.withLock { state -> (Date, [Key: Bucket]) in
            defer {
                state.buckets = [:]
                state.denies = 0
                state.start = now
            }
            return (state.start, state.buckets)
        }
        var events: [HistoryEvent] = []
        for (key, bucket) in buckets.sorted(by: { ($0.key.org, $0.key.converter) < ($1.key.org, $1.key.converter) }) {
            events.append(Self.summary(key, bucket, start: start, end: now))
            events += bucket.denies
        }
        for event in events {
            do {
                if let writer { try store.record(event, writer: writer) } else { try await store.record(event) }
            } catch {
                // Reported by the writer for queued writes; a direct write failing loses the event.
                continue
            }
        }
        return events.count
    }

    private static func summary(_ key: Key, _ bucket: Bucket, start: Date, end: Date) -> HistoryEvent {
        var json = JSONWriter()
        var allowed = bucket.other.allowed, denied = bucket.other.denied
        for counts in bucket.counts.values {
            allowed += counts.allowed
            denied += counts.denied
        }
        json.beginObject()
            json.field("periodStart", JSONWriter.iso8601(start))
            json.field("periodEnd", JSONWriter.iso8601(end))
            json.field("allowed", allowed)
            json.field("denied", denied)
            json.key("destinations")
            json.beginObject()
                for (label, counts) in bucket.counts.sorted(by: { $0.key < $1.key }) {
                    json.key(label)
                    json.beginObject()
                        json.field("allowed", counts.allowed)
                        json.field("denied", counts.denied)
                    json.endObject()
                }
            json.endObject()
            if bucket.other.allowed + bucket.other.denied > 0 {
                json.key("otherDestinations")
                json.beginObject()
                    json.field("allowed", bucket.other.allowed)
                    json.field("denied", bucket.other.denied)
                json.endObject()
            }
            json.field("deniesNotRecorded", bucket.deniesNotRecorded)
        json.endObject()
        return HistoryEvent(type: "access.summary", orgNumber: key.org, converter: key.converter,
                            actor: "\(key.org)-\(key.converter)", data: json.text, time: end)
    }

    private static func denyEvent(_ identity: ConverterIdentity, destination: String, query: AccessQuery,
                                  decision: AccessDecision, now: Date) -> HistoryEvent {
        var json = JSONWriter()
        json.beginObject()
            json.field("destination", destination)
            json.key("addresses")
            json.beginArray()
            for address in decision.addresses { json.string(address.description) }
            json.endArray()
            json.field("protocol", query.protocol.rawValue)
            if let port = query.port { json.field("port", port) }
            json.field("reason", decision.reason)
            json.field("rule", decision.rule)
        json.endObject()
        return HistoryEvent(type: "access.denied", orgNumber: identity.org, converter: identity.name,
                            actor: identity.converterId, data: json.text, time: now)
    }
}
