/// Errors of the monitor, each saying what to check.
public enum MonitorError: Error, Sendable, CustomStringConvertible {
    /// A bad flag value.
    case configuration(String)
    /// The agent could not be reached or did not answer in time.
    case unreachable(String)
    /// TLS failed or the agent's certificate is not the converter's own.
    case identity(String)
    /// The agent answered something the contract does not allow.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .configuration(let message): return message
        case .unreachable(let message): return message
        case .identity(let message): return "agent identity: \(message)"
        case .protocolViolation(let message): return "agent answer: \(message)"
        }
    }
}
