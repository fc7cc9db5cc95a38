import Foundation

/// The health state machine of one converter: consecutive failures, transitions, which
/// transitions mail the subscriber, and flap damping. Pure (no I/O), so it is unit-tested
/// on its own; ``ProbeScheduler`` keeps one per converter.
///
/// - A successful probe sets the health the agent's answer implies (up, degraded or
///   expiring) and resets the failure count.
/// - A failed probe keeps the health until `downAfter` probes in a row failed; then `down`.
/// - Mails: one on every transition *into* `down` and one on every transition *out of* it
///   (recovery). More than `flapLimit` transitions within `flapWindow` seconds hold further
///   mails (the first state after `unknown` does not count); when the converter then stays in one state for `flapWindow`, one digest mail
///   reports the current state and damping ends.
/// - A tracker created from the directory's `tgHealth` after a restart mails nothing for
///   the state it starts in.
public struct HealthTracker: Sendable, Equatable {
    /// The limits the tracker applies.
    public struct Limits: Sendable, Equatable {
        public var downAfter: Int
        public var flapLimit: Int
        public var flapWindow: TimeInterval

        public init(downAfter: Int = 3, flapLimit: Int = 4, flapWindow: TimeInterval = 3600) {
            self.downAfter = max(1, downAfter)
            self.flapLimit = max(1, flapLimit)
            self.flapWindow = flapWindow
        }
    }

    /// What one probe tells.
    public enum Observation: Sendable, Equatable {
        /// The agent answered; the health its answer implies (up, degraded or expiring).
        case answered(ConverterHealth, reason: String)
        /// No valid answer.
        case failed(reason: String)
    }

    /// A mail the scheduler should send.
    public enum Mail: Sendable, Equatable {
        /// The converter went down.
        case down(reason: String)
        /// The converter came back from `down` into `health`.
        case recovered(health: ConverterHealth)
        /// Damping ended: `changes` transitions happened while mails were held; now `health`.
        case digest(health: ConverterHealth, changes: Int)
    }

    /// The result of one observation.
    public struct Outcome: Sendable, Equatable {
        /// (from, to, reason) when the health changed.
        public var transition: (from: ConverterHealth, to: ConverterHealth, reason: String)?
        public var mail: Mail?

        public static func == (a: Outcome, b: Outcome) -> Bool {
            a.mail == b.mail && a.transition?.from == b.transition?.from && a.transition?.to == b.transition?.to
                && a.transition?.reason == b.transition?.reason
        }
    }

    public let limits: Limits
    public private(set) var health: ConverterHealth
    /// Failed probes in a row.
    public private(set) var failures = 0
    /// True while mails are held because the converter flaps.
    public private(set) var damped = false
    /// Transitions whose mail was held during the current damping.
    public private(set) var changesWhileDamped = 0
    /// Times of recent transitions (within the flap window).
    private var recentChanges: [Date] = []
    private var lastChange: Date?

    /// A tracker starting in `health` (the directory's `tgHealth`, or unknown).
    public init(health: ConverterHealth, limits: Limits) {
        self.health = health
        self.limits = limits
    }

    /// Applies one probe result at `now`.
    public mutating func observe(_ observation: Observation, at now: Date) -> Outcome {
        var outcome = Outcome()
        let next: ConverterHealth
        let reason: String
        switch observation {
        case .answered(let implied, let why):
            failures = 0
            next = implied
            reason = why
        case .failed(let why):
            failures += 1
            if failures >= limits.downAfter {
                next = .down
                reason = "\(failures) probes missed: \(why)"
            } else {
                next = health
                reason = why
            }
        }
        if next != health {
            let from = health
            health = next
            outcome.transition = (from, next, reason)
            recentChanges.removeAll { now.timeIntervalSince($0) >= limits.flapWindow }
            // The first state after `unknown` is not a flap.
            if from != .unknown { recentChanges.append(now) }
            lastChange = now
            var mail: Mail?
            if next == .down {
                mail = .down(reason: reason)
            } else if from == .down {
                mail = .recovered(health: next)
            }
            if damped {
                changesWhileDamped += 1
            } else if recentChanges.count > limits.flapLimit {
                damped = true
                changesWhileDamped = 1
            } else {
                outcome.mail = mail
            }
        } else if damped, let lastChange, now.timeIntervalSince(lastChange) >= limits.flapWindow {
            outcome.mail = .digest(health: health, changes: changesWhileDamped)
            damped = false
            changesWhileDamped = 0
            recentChanges.removeAll()
        }
        return outcome
    }
}
