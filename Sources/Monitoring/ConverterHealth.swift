/// A converter's health as the monitor sees it (`tgHealth`).
///
/// - `up`: the agent answers and reports no problem.
/// - `degraded`: the agent answers but reports problems (e.g. a tunnel down).
/// - `expiring`: the agent answers and its certificate ends within the warning period.
/// - `down`: `--down-after` probes in a row failed.
/// - `unknown`: never probed (no `tgHealth` yet).
public enum ConverterHealth: String, Sendable, Hashable, CaseIterable, Codable {
    case up, degraded, expiring, down, unknown

    /// Reads a `tgHealth` value; anything unrecognised is `unknown`.
    public init(directoryValue: String?) {
        self = directoryValue.flatMap { ConverterHealth(rawValue: $0.lowercased()) } ?? .unknown
    }

    /// The history event type of a transition into this state (`converter.down`, …).
    public var eventType: String { "converter.\(rawValue)" }
}
