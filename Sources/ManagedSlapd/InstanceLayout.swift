import Foundation

/// Where a managed instance keeps its files under the data directory.
///
/// ```
/// DIR/slapd.d/        cn=config (slapd -F)
/// DIR/db/             the mdb database
/// DIR/run/slapd.pid   pid file;  DIR/run/ldapi  the ldapi:// socket
/// DIR/log/slapd.log   slapd's log
/// DIR/secrets/        service-account password (mode 0600, folder 0700)
/// DIR/instance.json   the settings chosen at init (LDAP port)
/// ```
public struct InstanceLayout: Sendable, Hashable {
    public let root: URL

    public init(dataDirectory: String) {
        root = URL(fileURLWithPath: dataDirectory).standardizedFileURL
    }

    public var configDirectory: URL { root.appendingPathComponent("slapd.d") }
    public var databaseDirectory: URL { root.appendingPathComponent("db") }
    public var runDirectory: URL { root.appendingPathComponent("run") }
    public var logDirectory: URL { root.appendingPathComponent("log") }
    public var secretsDirectory: URL { root.appendingPathComponent("secrets") }
    public var pidFile: URL { runDirectory.appendingPathComponent("slapd.pid") }
    public var socket: URL { runDirectory.appendingPathComponent("ldapi") }
    public var logFile: URL { logDirectory.appendingPathComponent("slapd.log") }
    public var settingsFile: URL { root.appendingPathComponent("instance.json") }
    public var servicePasswordFile: URL { secretsDirectory.appendingPathComponent("service.password") }
    /// Marker written once the demo directory has been loaded (`serve --demo`).
    public var demoMarker: URL { root.appendingPathComponent("demo-loaded") }
}
