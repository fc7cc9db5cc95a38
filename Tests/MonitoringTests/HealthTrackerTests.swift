import Foundation
import Monitoring
import Testing

@Suite struct HealthTrackerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    @Test func downOnlyAfterConsecutiveFailuresAndOneMailEach() {
        var tracker = HealthTracker(health: .unknown, limits: .init(downAfter: 3, flapLimit: 4, flapWindow: 3600))
        let first = tracker.observe(.answered(.up, reason: "ok"), at: at(0))
        #expect(first.transition?.from == .unknown && first.transition?.to == .up)
        #expect(first.mail == nil, "unknown → up mails nobody")
        #expect(tracker.observe(.failed(reason: "connection refused"), at: at(1)).transition == nil)
        #expect(tracker.observe(.failed(reason: "connection refused"), at: at(2)).transition == nil)
        let down = tracker.observe(.failed(reason: "connection refused"), at: at(3))
        #expect(down.transition?.to == .down)
        #expect(down.transition?.reason == "3 probes missed: connection refused")
        #expect(down.mail == .down(reason: "3 probes missed: connection refused"))
        let still = tracker.observe(.failed(reason: "connection refused"), at: at(4))
        #expect(still.transition == nil && still.mail == nil, "no second mail while down")
        let back = tracker.observe(.answered(.up, reason: "ok"), at: at(5))
        #expect(back.transition?.from == .down && back.mail == .recovered(health: .up))
        #expect(tracker.observe(.answered(.up, reason: "ok"), at: at(6)).mail == nil)
    }

    @Test func aSuccessResetsTheFailureCount() {
        var tracker = HealthTracker(health: .up, limits: .init(downAfter: 2))
        _ = tracker.observe(.failed(reason: "timeout"), at: at(0))
        _ = tracker.observe(.answered(.up, reason: "ok"), at: at(1))
        #expect(tracker.observe(.failed(reason: "timeout"), at: at(2)).transition == nil)
        #expect(tracker.health == .up)
    }

    @Test func degradedAndExpiringAreTransitionsWithoutMail() {
        var tracker = HealthTracker(health: .up, limits: .init())
        let degraded = tracker.observe(.answered(.degraded, reason: "tunnel down"), at: at(0))
        #expect(degraded.transition?.to == .degraded && degraded.mail == nil)
        let expiring = tracker.observe(.answered(.expiring, reason: "soon"), at: at(1))
        #expect(expiring.transition?.from == .degraded && expiring.transition?.to == .expiring && expiring.mail == nil)
    }

    @Test func restartInDownDoesNotMailAgainButRecoveryDoes() {
        var tracker = HealthTracker(health: .down, limits: .init(downAfter: 1))
        #expect(tracker.observe(.failed(reason: "refused"), at: at(0)).mail == nil)
        #expect(tracker.observe(.answered(.up, reason: "ok"), at: at(1)).mail == .recovered(health: .up))
    }

    @Test func flappingHoldsMailsThenOneDigest() {
        var tracker = HealthTracker(health: .up, limits: .init(downAfter: 1, flapLimit: 4, flapWindow: 100))
        var mails: [HealthTracker.Mail] = []
        var time = 0.0
        for _ in 0..<10 {
            time += 1
            if let mail = tracker.observe(.failed(reason: "refused"), at: at(time)).mail { mails.append(mail) }
            time += 1
            if let mail = tracker.observe(.answered(.up, reason: "ok"), at: at(time)).mail { mails.append(mail) }
        }
        #expect(mails.count == 4, "four changes mail, the 16 after are held: \(mails)")
        #expect(tracker.damped)
        // Stable but not yet for a whole window: nothing.
        #expect(tracker.observe(.answered(.up, reason: "ok"), at: at(time + 50)).mail == nil)
        let digest = tracker.observe(.answered(.up, reason: "ok"), at: at(time + 100))
        #expect(digest.mail == .digest(health: .up, changes: 16))
        #expect(!tracker.damped)
        #expect(tracker.observe(.answered(.up, reason: "ok"), at: at(time + 101)).mail == nil, "exactly one digest")
        // Damping over: the next outage mails again.
        #expect(tracker.observe(.failed(reason: "refused"), at: at(time + 200)).mail == .down(reason: "1 probes missed: refused"))
    }

    @Test func changesOutsideTheWindowDoNotCountAsFlapping() {
        var tracker = HealthTracker(health: .up, limits: .init(downAfter: 1, flapLimit: 2, flapWindow: 10))
        var mails = 0
        for step in 0..<6 {
            let time = Double(step) * 20
            if tracker.observe(.failed(reason: "x"), at: at(time)).mail != nil { mails += 1 }
            if tracker.observe(.answered(.up, reason: "ok"), at: at(time + 9.5)).mail != nil { mails += 1 }
        }
        #expect(mails == 12)
        #expect(!tracker.damped)
    }
}
