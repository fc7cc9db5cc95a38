import Foundation
import LDAPClient

/// Typed access to Tollgate's directory: subscribers, converters, destinations, servers
/// and history, as entries under ``DirectoryLayout``.
///
/// Every input is validated before it reaches slapd; every value that enters a DN or a
/// filter is escaped (RFC 4514 / RFC 4515) by ``DistinguishedName`` and ``LDAPFilter``.
public struct DirectoryStore: Sendable {
    public let client: LDAPClient
    public let layout: DirectoryLayout

    public init(client: LDAPClient, layout: DirectoryLayout = DirectoryLayout()) {
        self.client = client
        self.layout = layout
    }

    // MARK: - Generic

    func list<T: DirectoryObject>(_ type: T.Type, base: DistinguishedName, scope: LDAPSearchScope = .oneLevel,
                                  filter extra: [LDAPFilter] = []) async throws -> [T] {
        let filter = LDAPFilter.and([.equal("objectClass", T.objectClasses[0])] + extra)
        do {
            return try await client.search(base: base, scope: scope, filter: filter, attributes: T.attributeNames, pageSize: 500)
                .map { try T(entry: $0) }
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        }
    }

    func read<T: DirectoryObject>(_ type: T.Type, _ dn: DistinguishedName) async throws -> T? {
        guard let entry = try await client.read(dn, attributes: T.attributeNames), entry.hasObjectClass(T.objectClasses[0]) else {
            return nil
        }
        return try T(entry: entry)
    }

    func create<T: DirectoryObject>(_ object: T, at dn: DistinguishedName, what: String, parent: String) async throws {
        try object.validate()
        do {
            try await client.add(dn, attributes: object.entryAttributes)
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            throw DirectoryError.alreadyExists(what)
        } catch let error as LDAPError where error.code == .noSuchObject {
            throw DirectoryError.notFound(parent)
        }
    }

    func remove(_ dn: DistinguishedName, what: String, subtree: Bool = false) async throws {
        do {
            if subtree { try await client.deleteSubtree(dn) } else { try await client.delete(dn) }
        } catch let error as LDAPError where error.code == .noSuchObject {
            throw DirectoryError.notFound(what)
        }
    }

    // MARK: - Subscribers

    public func subscribers() async throws -> [Subscriber] {
        try await list(Subscriber.self, base: layout.subscribers).sorted { $0.orgNumber.count == $1.orgNumber.count ? $0.orgNumber < $1.orgNumber : $0.orgNumber.count < $1.orgNumber.count }
    }

    public func subscriber(_ orgNumber: String) async throws -> Subscriber? {
        try Validate.orgNumber(orgNumber)
        return try await read(Subscriber.self, layout.subscriber(orgNumber))
    }

    /// Finds a subscriber by its subscriber ID (e.g. the HTTP Basic user name).
    public func subscriber(subscriberId: String) async throws -> Subscriber? {
        try await list(Subscriber.self, base: layout.subscribers, filter: [.equal("tgSubscriberId", subscriberId)]).first
    }

    /// Creates the subscriber and its containers (converters, destinations, history,
    /// traffic, reports). With a `signature`, slapd stores its salted hash as
    /// `userPassword`. A failure half-way removes what was created.
    public func addSubscriber(_ subscriber: Subscriber, signature: String? = nil) async throws {
        try subscriber.validate()
        if let signature {
            guard signature.count >= 12 else {
                throw InvalidFieldError(field: "subscriber.signature", message: "must be at least 12 characters")
            }
        }
        let dn = layout.subscriber(subscriber.orgNumber)
        try await create(subscriber, at: dn, what: "subscriber \(subscriber.orgNumber)", parent: "\(layout.subscribers)")
        do {
            for container in DirectoryLayout.tenantContainers {
                try await client.add(dn.child("ou", container.name), attributes: [
                    ("objectClass", ["organizationalUnit"]), ("ou", [container.name]), ("description", [container.description])])
            }
            if let signature { try await client.setPassword(dn, to: signature) }
        } catch {
            try? await client.deleteSubtree(dn)
            throw error
        }
    }

    /// Removes a subscriber with everything below it.
    public func removeSubscriber(_ orgNumber: String) async throws {
        try Validate.orgNumber(orgNumber)
        try await remove(layout.subscriber(orgNumber), what: "subscriber \(orgNumber)", subtree: true)
    }

    /// Lifts a password-policy lockout (removes `pwdAccountLockedTime` and the recorded
    /// failures). Returns false if the subscriber was not locked.
    @discardableResult
    public func unlockSubscriber(_ orgNumber: String) async throws -> Bool {
        guard let subscriber = try await subscriber(orgNumber) else { throw DirectoryError.notFound("subscriber \(orgNumber)") }
        guard subscriber.locked else { return false }
        try await client.modify(layout.subscriber(orgNumber), [.delete("pwdAccountLockedTime")])
        return true
    }

    /// Sets a subscriber's signature (slapd hashes it).
    public func setSignature(orgNumber: String, signature: String) async throws {
        try Validate.orgNumber(orgNumber)
        do {
            try await client.setPassword(layout.subscriber(orgNumber), to: signature)
        } catch let error as LDAPError where error.code == .noSuchObject {
            throw DirectoryError.notFound("subscriber \(orgNumber)")
        }
    }

    // MARK: - Converters

    /// The converters of one tenant, or of all tenants when `orgNumber` is nil.
    public func converters(orgNumber: String? = nil) async throws -> [Converter] {
        if let orgNumber {
            try Validate.orgNumber(orgNumber)
            return try await list(Converter.self, base: layout.converters(orgNumber)).sorted { $0.name < $1.name }
        }
        return try await list(Converter.self, base: layout.subscribers, scope: .subtree).sorted { ($0.orgNumber, $0.name) < ($1.orgNumber, $1.name) }
    }

    public func converter(orgNumber: String, name: String) async throws -> Converter? {
        try Validate.orgNumber(orgNumber)
        return try await read(Converter.self, layout.converter(orgNumber, name))
    }

    /// Converters of any tenant whose name is exactly `name` (an equality search).
    public func converters(named name: String) async throws -> [Converter] {
        try await list(Converter.self, base: layout.subscribers, scope: .subtree, filter: [.equal("cn", name)])
    }

    public func addConverter(_ converter: Converter) async throws {
        try await create(converter, at: layout.converter(converter.orgNumber, converter.name),
                         what: "converter \(converter.name) of \(converter.orgNumber)", parent: "subscriber \(converter.orgNumber)")
    }

    public func removeConverter(orgNumber: String, name: String) async throws {
        try Validate.orgNumber(orgNumber)
        try await remove(layout.converter(orgNumber, name), what: "converter \(name) of \(orgNumber)")
    }

    // MARK: - Destinations

    public func destinations(orgNumber: String) async throws -> [Destination] {
        try Validate.orgNumber(orgNumber)
        return try await list(Destination.self, base: layout.destinations(orgNumber)).sorted { $0.name < $1.name }
    }

    public func destination(orgNumber: String, name: String) async throws -> Destination? {
        try Validate.orgNumber(orgNumber)
        return try await read(Destination.self, layout.destination(orgNumber, name))
    }

    /// Destinations of `orgNumber` whose network contains `address` (an LDAP search on
    /// tgAddressFrom/tgAddressTo), most specific first.
    public func destinations(orgNumber: String, containing address: IPAddress) async throws -> [Destination] {
        try Validate.orgNumber(orgNumber)
        let found = try await list(Destination.self, base: layout.destinations(orgNumber), filter: [
            .lessOrEqual("tgAddressFrom", address.hex), .greaterOrEqual("tgAddressTo", address.hex)])
        return found.filter { $0.network.contains(address) }.sorted { $0.network.prefixLength > $1.network.prefixLength }
    }

    public func addDestination(_ destination: Destination) async throws {
        try await create(destination, at: layout.destination(destination.orgNumber, destination.name),
                         what: "destination \(destination.name) of \(destination.orgNumber)", parent: "subscriber \(destination.orgNumber)")
    }

    public func removeDestination(orgNumber: String, name: String) async throws {
        try Validate.orgNumber(orgNumber)
        try await remove(layout.destination(orgNumber, name), what: "destination \(name) of \(orgNumber)")
    }

    // MARK: - Servers

    public func servers() async throws -> [Server] {
        try await list(Server.self, base: layout.servers).sorted { $0.name < $1.name }
    }

    public func addServer(_ server: Server) async throws {
        try await create(server, at: layout.server(server.name), what: "server \(server.name)", parent: "\(layout.servers)")
    }

    // MARK: - History

    /// Stores one history event under its tenant (or the global history).
    public func record(_ event: HistoryEvent) async throws {
        try await client.apply(historyWrite(event))
    }

    /// Queues one history event on `writer` (written with its next group, retried while
    /// the directory is unreachable); returns at once.
    public func record(_ event: HistoryEvent, writer: BatchedWriter) throws {
        writer.enqueue(try historyWrite(event))
    }

    /// The add that stores `event`.
    public func historyWrite(_ event: HistoryEvent) throws -> LDAPWrite {
        try event.validate()
        let base = event.orgNumber.map { layout.history($0) } ?? layout.globalHistory
        return .add(base.child("tgEventId", event.id), event.entryAttributes.map { ($0.0, $0.1.map { Data($0.utf8) }) })
    }

    /// History of a tenant (or the global history), oldest first, optionally since a time.
    public func history(orgNumber: String?, since: Date? = nil) async throws -> [HistoryEvent] {
        if let orgNumber { try Validate.orgNumber(orgNumber) }
        let base = orgNumber.map { layout.history($0) } ?? layout.globalHistory
        var filter: [LDAPFilter] = []
        if let since { filter.append(.greaterOrEqual("tgEventTime", GeneralizedTime.string(since))) }
        return try await list(HistoryEvent.self, base: base, filter: filter).sorted { $0.id < $1.id }
    }
}
