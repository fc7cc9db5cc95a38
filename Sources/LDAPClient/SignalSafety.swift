import Foundation

/// libldap writes to sockets without `MSG_NOSIGNAL`: a write to a connection that slapd
/// has closed (it restarted) would kill the process with SIGPIPE instead of returning
/// `LDAP_SERVER_DOWN`, which the client handles by reconnecting. Ignore SIGPIPE once.
public enum SignalSafety {
    public static let ignoreSIGPIPE: Void = {
        signal(SIGPIPE, SIG_IGN)
        return ()
    }()
}
