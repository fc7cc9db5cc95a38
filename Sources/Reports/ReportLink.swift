import Crypto
import Directory
import Foundation

/// Signed, expiring report links:
/// `https://PUBLIC/reports/<org>/<period>/<startYYYYmmdd>?exp=<unix>&sig=<hex>` where `sig`
/// is HMAC-SHA256, under the key in `DATA/secrets/report-link.key`, of
/// `tollgate-report-v1\n<org>\n<period>\n<startYYYYmmdd>\n<exp>`.
///
/// The signature binds the organisation, the period, its start and the expiry: changing
/// any of them gives 403 (``ReportError/tampered``); a correct link past `exp` gives 410
/// (``ReportError/expired(_:)``). The page shows the data of the organisation in the
/// (signed) path only.
public struct ReportLink: Sendable, Hashable {
    public var orgNumber: String
    public var period: ReportPeriod
    /// The period's start, UTC midnight.
    public var start: Date
    /// Unix time after which the link answers 410.
    public var expires: Int64
    /// Lower-case hex HMAC-SHA256.
    public var signature: String

    /// The key file under a data directory.
    public static func keyFile(dataDirectory: String) -> URL {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("secrets").appendingPathComponent("report-link.key")
    }

    /// The signing key of `dataDirectory`, created (32 random bytes, hex, mode 0600, folder
    /// 0700) when missing. Replacing the file rotates the key: every older link then
    /// answers 403.
    public static func loadOrCreateKey(dataDirectory: String) throws(ReportError) -> SymmetricKey {
        let url = keyFile(dataDirectory: dataDirectory)
        let fm = FileManager.default
        if !fm.fileExists(atPath: url.path) {
            do {
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                       attributes: [.posixPermissions: 0o700])
                var generator = SystemRandomNumberGenerator()
                let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let text = Hex.encode(bytes) + "\n"
                // Create exclusively with 0600; a concurrent creator wins and we read its key.
                if fm.createFile(atPath: url.path + ".tmp-\(getpid())", contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) {
                    if link(url.path + ".tmp-\(getpid())", url.path) != 0 && errno != EEXIST {
                        let reason = String(cString: strerror(errno))
                        unlink(url.path + ".tmp-\(getpid())")
                        throw ReportError.key("cannot create \(url.path): \(reason)")
                    }
                    unlink(url.path + ".tmp-\(getpid())")
                }
            } catch let error as ReportError {
                throw error
            } catch {
                throw .key("cannot create \(url.path): \(error)")
            }
        }
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw .key("cannot read \(url.path): \(error)")
        }
        guard text.count >= 32, text.count % 2 == 0, let bytes = Hex.decode(text) else {
            throw .key("\(url.path) must hold at least 16 bytes as hex (e.g. `openssl rand -hex 32`)")
        }
        return SymmetricKey(data: bytes)
    }

    public init(orgNumber: String, period: ReportPeriod, start: Date, expires: Int64, key: SymmetricKey) {
        self.orgNumber = orgNumber
        self.period = period
        self.start = start
        self.expires = expires
        self.signature = Self.sign(orgNumber: orgNumber, period: period.rawValue, day: ReportPeriod.dayString(start), expires: String(expires), key: key)
    }

    /// The path and query: `/reports/<org>/<period>/<YYYYmmdd>?exp=…&sig=…`.
    public var pathAndQuery: String {
        "/reports/\(orgNumber)/\(period.rawValue)/\(ReportPeriod.dayString(start))?exp=\(expires)&sig=\(signature)"
    }

    /// The full link under `publicURL` (`https://tollgate.example.net:8443`).
    public func url(publicURL: String) -> String {
        (publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL) + pathAndQuery
    }

    /// Checks a link's parts as they came in a request: the signature first (any change →
    /// ``ReportError/tampered``), then the expiry (``ReportError/expired(_:)``), then that
    /// the parts make sense (a period start).
    public static func verify(orgNumber: String, period: String, day: String, expires: String?, signature: String?,
                              key: SymmetricKey, now: Date = Date()) throws(ReportError) -> ReportLink {
        guard let expires, let signature, !expires.isEmpty, !signature.isEmpty else { throw .tampered }
        // HMAC's own check compares in constant time.
        guard let given = Hex.decode(signature),
              HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data(message(orgNumber: orgNumber, period: period, day: day, expires: expires).utf8),
                                                     using: key) else { throw .tampered }
        guard let exp = Int64(expires) else { throw .tampered }
        guard Int64(now.timeIntervalSince1970) <= exp else { throw .expired(Date(timeIntervalSince1970: TimeInterval(exp))) }
        let kind = try ReportPeriod.parse(period)
        guard isOrgNumber(orgNumber), let start = ReportPeriod.parseDay(day), kind.isStart(start) else {
            throw .badRequest("the link names no report")
        }
        var link = ReportLink(orgNumber: orgNumber, period: kind, start: start, expires: exp, key: key)
        link.signature = Hex.encode(given)
        return link
    }

    static func sign(orgNumber: String, period: String, day: String, expires: String, key: SymmetricKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(message(orgNumber: orgNumber, period: period, day: day, expires: expires).utf8),
                                                  using: key)
        return Hex.encode(mac)
    }

    /// What the signature covers.
    static func message(orgNumber: String, period: String, day: String, expires: String) -> String {
        "tollgate-report-v1\n\(orgNumber)\n\(period)\n\(day)\n\(expires)"
    }

    /// 1 to 12 digits, no leading zero (as the directory's organisation numbers).
    public static func isOrgNumber(_ value: String) -> Bool {
        !value.isEmpty && value.count <= 12 && value.allSatisfy { $0.isASCII && $0.isNumber } && value.first != "0"
    }
}
