/// Where and how to reach the directory.
public struct LDAPConfiguration: Sendable, Hashable {
    /// `ldap://host:port`, `ldaps://…` or `ldapi://<url-encoded socket path>`.
    public var url: String
    public var credentials: LDAPCredentials
    /// Connections kept in the pool.
    public var maximumConnections: Int
    /// Seconds to wait for a TCP connect.
    public var connectTimeout: Double
    /// Seconds to wait for any single operation's answer.
    public var operationTimeout: Double
    /// How long a request keeps trying to reconnect after the server went away.
    public var reconnectWindow: Double
    /// Seconds to wait after the last write of an RFC 5805 transaction was answered and
    /// before the end (commit or abort) is sent. Works around a use-after-free in slapd
    /// 2.5.13: `txn_preop` queues a write into the transaction and then sends its answer,
    /// and an end that arrives while that thread is still inside `send_ldap_result` frees
    /// the queued operation under it (seen as a segfault, most often when the end is an
    /// abort, which frees at once). 0 turns the pause off.
    public var transactionSettleDelay: Double

    public init(
        url: String,
        credentials: LDAPCredentials = .anonymous,
        maximumConnections: Int = 4,
        connectTimeout: Double = 5,
        operationTimeout: Double = 30,
        reconnectWindow: Double = 10,
        transactionSettleDelay: Double = 0.01
    ) {
        self.url = url
        self.credentials = credentials
        self.maximumConnections = max(1, maximumConnections)
        self.connectTimeout = connectTimeout
        self.operationTimeout = operationTimeout
        self.reconnectWindow = reconnectWindow
        self.transactionSettleDelay = max(0, transactionSettleDelay)
    }

    /// The `ldapi://` URL for a Unix socket path (the path percent-encoded).
    public static func ldapiURL(socketPath: String) -> String {
        var allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~".utf8)
        allowed.remove(UInt8(ascii: "/"))
        var out = "ldapi://"
        for byte in socketPath.utf8 {
            if allowed.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
