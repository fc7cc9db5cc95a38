#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-files limit (`RLIMIT_NOFILE`, `ulimit -n`).
///
/// The monitor keeps one connection per converter alive, so `tollgate serve` needs more
/// than one open file per monitored converter; `serve` raises its soft limit to the hard
/// limit at start (``raiseToHard()``) and the probe scheduler warns when the fleet no
/// longer fits (``soft``).
public enum OpenFilesLimit {
    /// Open files the server needs besides its converter connections (listeners, LDAP
    /// connections, the spool, log files, …), a generous estimate.
    public static let reserve = 512

    /// The current soft limit, or nil when it cannot be read or is unlimited.
    public static var soft: Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// Raises the soft limit to the hard limit. Returns (before, after), or nil when the
    /// limit cannot be read; `after == before` when it already was the hard limit or the
    /// raise was refused.
    public static func raiseToHard() -> (before: UInt64, after: UInt64)? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 else { return (before, before) }
        return (before, UInt64(raised.rlim_cur))
    }
}
