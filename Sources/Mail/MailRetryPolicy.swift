import Foundation

/// Exponential backoff between delivery attempts: `initial`, `initial × multiplier`, …,
/// never more than `maximum`. Attempts never stop; a message is never dropped.
public struct MailRetryPolicy: Sendable, Equatable {
    public var initial: Duration
    public var multiplier: Double
    public var maximum: Duration

    /// 1 s, 2 s, 4 s, … capped at 5 minutes.
    public static let standard = MailRetryPolicy(initial: .seconds(1), multiplier: 2, maximum: .seconds(300))

    public init(initial: Duration, multiplier: Double = 2, maximum: Duration) {
        self.initial = initial
        self.multiplier = max(1, multiplier)
        self.maximum = maximum
    }

    /// The wait after the `failures`-th failed attempt (1 for the first failure).
    public func delay(afterFailures failures: Int) -> TimeInterval {
        let initialSeconds = Self.seconds(initial)
        let maximumSeconds = Self.seconds(maximum)
        let exponent = Double(max(0, min(failures - 1, 64)))
        return min(maximumSeconds, initialSeconds * pow(multiplier, exponent))
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
