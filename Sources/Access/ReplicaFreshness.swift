import Foundation

/// How current the replica is.
public enum ReplicaFreshness: Sendable, Hashable {
    /// The synchronisation connection is up and in its persist phase.
    case fresh
    /// The directory went away `age` seconds ago; answers come from the last synced state.
    case stale(age: Double)
    /// No usable state: the first synchronisation is not done, or the directory has been
    /// away longer than the configured bound (fail closed). The text says which.
    case unavailable(String)

    public var isStale: Bool { if case .stale = self { return true } else { return false } }
}
