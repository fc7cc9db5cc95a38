import Foundation
import LDAPClient

/// One exchange with a client or converter (store 204/205): a `tgHistoryEvent` under the
/// tenant's `ou=history`, or under `ou=history,dc=tollgate` when no tenant is involved.
public struct HistoryEvent: DirectoryObject, Hashable {
    /// Sortable unique id: GeneralizedTime with microseconds, then random hex.
    public var id: String
    /// Dotted kind, e.g. `subscriber.added`, `application.received`.
    public var type: String
    public var time: Date
    public var orgNumber: String?
    /// The converter concerned, if any.
    public var converter: String?
    /// Who caused it: `operator`, a subscriber ID, a converter ID or `system`.
    public var actor: String
    /// Details as a JSON object text.
    public var data: String?

    public init(type: String, orgNumber: String? = nil, converter: String? = nil, actor: String,
                data: String? = nil, time: Date = Date()) {
        self.type = type
        self.time = time
        self.orgNumber = orgNumber
        self.converter = converter
        self.actor = actor
        self.data = data
        self.id = Self.makeID(time)
    }

    static func makeID(_ time: Date) -> String {
        let micros = Int((time.timeIntervalSince1970 * 1_000_000).truncatingRemainder(dividingBy: 1_000_000))
        let fraction = String(micros).leftPad(6)
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16).leftPad(8)
        let base = GeneralizedTime.string(time).dropLast()  // without "Z"
        return "\(base).\(fraction)Z-\(random)"
    }

    public static let objectClasses = ["tgHistoryEvent"]

    public init(entry: LDAPEntry) throws {
        id = try entry.required("tgEventId")
        type = try entry.required("tgEventType")
        guard let time = entry.time("tgEventTime") else { throw DirectoryError.malformedEntry(entry.dn, "bad tgEventTime") }
        self.time = time
        orgNumber = entry["tgOrgNumber"]
        converter = entry["cn"]
        actor = entry["tgActor"] ?? "unknown"
        data = entry["tgEventData"]
    }

    public var attributes: [(String, [String])] {
        [("tgEventId", [id]), ("tgEventType", [type]), ("tgEventTime", [GeneralizedTime.string(time)]),
         ("tgOrgNumber", orgNumber.map { [$0] } ?? []), ("cn", converter.map { [$0] } ?? []),
         ("tgActor", [actor]), ("tgEventData", data.map { [$0] } ?? [])]
    }

    public func validate() throws {
        try Validate.text(type, field: "event.type", maxLength: 64)
        try Validate.text(actor, field: "event.actor", maxLength: 256)
        if let orgNumber { try Validate.orgNumber(orgNumber, field: "event.orgNumber") }
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
