import Foundation

/// `agent.json`: what `enroll` learned, and optional defaults for `run`.
///
/// ```json
/// {"server":"https://tollgate.example:8443","converter":"conv-a","org":"1001",
///  "serial":"5f…","notAfter":"2027-01-01T00:00:00Z","keyType":"p256",
///  "peerAddress":"192.0.2.20","peerId":"192.0.2.20"}
/// ```
/// `peerAddress`/`peerId` are never written by the agent; an operator may add them instead
/// of passing `--peer-address`/`--peer-id` to `run`.
public struct AgentSettings: Codable, Sendable, Equatable {
    /// Base URL of Tollgate (`https://HOST:PORT`).
    public var server: String
    /// The converter name (the certificate's CN).
    public var converter: String
    /// The organisation number (the certificate's OU).
    public var org: String
    /// The current certificate's serial (lowercase hex) and expiry.
    public var serial: String
    public var notAfter: Date
    /// `p256` or `rsa2048`: renewals generate the same kind of key.
    public var keyType: String
    /// When the current certificate was obtained.
    public var enrolledAt: Date
    /// The IPsec peer `run` connects to, when not given on the command line.
    public var peerAddress: String?
    public var peerId: String?

    public init(server: String, converter: String, org: String, serial: String, notAfter: Date, keyType: String,
                enrolledAt: Date = Date(), peerAddress: String? = nil, peerId: String? = nil) {
        self.server = server
        self.converter = converter
        self.org = org
        self.serial = serial
        self.notAfter = notAfter
        self.keyType = keyType
        self.enrolledAt = enrolledAt
        self.peerAddress = peerAddress
        self.peerId = peerId
    }

    public static func load(from directory: AgentDirectory) throws(AgentError) -> AgentSettings {
        let text = try AgentDirectory.read(directory.configFile)
        do {
            return try JSONCoding.decoder.decode(AgentSettings.self, from: Data(text.utf8))
        } catch {
            throw .localFiles("\(directory.configFile) is not valid agent settings: \(error); re-run enroll or fix the file")
        }
    }

    public func save(to directory: AgentDirectory) throws(AgentError) {
        let data: Data
        do {
            data = try JSONCoding.encoder.encode(self)
        } catch {
            throw .localFiles("cannot encode agent settings: \(error)")
        }
        try AgentDirectory.writeAtomically(data + Data("\n".utf8), to: directory.configFile, mode: 0o644)
    }
}

/// JSON coders with ISO 8601 dates (with or without fractional seconds).
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatDate(date))
        }
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseDate(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 time: \(text)")
            }
            return date
        }
        return decoder
    }()

    /// ISO 8601 in UTC; milliseconds only when the time has a fraction (so a decoded
    /// policy time survives the cache file unchanged).
    static func formatDate(_ date: Date) -> String {
        let fraction = date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)
        return date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: fraction >= 0.0005))
    }

    static func parseDate(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}
