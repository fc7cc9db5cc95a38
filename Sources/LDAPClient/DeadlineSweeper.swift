import Foundation
import Synchronization

/// Fails overdue LDAP requests of every ``LDAPSession`` from one background thread.
///
/// Reader threads sleep in `poll(2)` without a timeout (arming a timer per wait is
/// expensive on virtual machines); this thread wakes every ``interval`` and lets each
/// watched session expire the requests past their deadline. An operation's timeout is
/// therefore honoured to within one interval.
final class DeadlineSweeper: Sendable {
    static let shared = DeadlineSweeper()

    /// How often deadlines are checked.
    static let interval: Duration = .milliseconds(100)

    private struct Watched {
        weak var session: LDAPSession?
    }

    private struct State {
        var sessions: [ObjectIdentifier: Watched] = [:]
        var running = false
    }

    private let state = Mutex(State())

    /// Checks `session`'s deadlines from now on, until it is dead or deallocated.
    func watch(_ session: LDAPSession) {
        let start = state.withLock { state -> Bool in
            state.sessions[ObjectIdentifier(session)] = Watched(session: session)
            guard !state.running else { return false }
            state.running = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in loop() }
        thread.name = "ldap-deadlines"
        thread.start()
    }

    private func loop() {
        let nanoseconds = UInt32(Self.interval.components.attoseconds / 1_000_000_000)
        while true {
            usleep(nanoseconds / 1_000)
            let sessions = state.withLock { state -> [(ObjectIdentifier, LDAPSession?)]? in
                if state.sessions.isEmpty {
                    state.running = false
                    return nil
                }
                return state.sessions.map { ($0.key, $0.value.session) }
            }
            guard let sessions else { return }
            var gone: [ObjectIdentifier] = []
            for (id, session) in sessions where !(session?.expireOverdue() ?? false) { gone.append(id) }
            if !gone.isEmpty {
                state.withLock { state in for id in gone { state.sessions.removeValue(forKey: id) } }
            }
        }
    }
}
