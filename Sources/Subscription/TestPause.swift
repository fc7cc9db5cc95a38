import Foundation

/// A deliberate pause inside an approval, for crash tests only: with
/// `TOLLGATE_TEST_APPROVAL_PAUSE=in-transaction:SECONDS` the approval waits after slapd
/// accepted every write of the tenant's transaction and before the commit; with
/// `after-commit:SECONDS` after the commit and before the verdict mail is released. It
/// announces the pause on stderr (`tollgate: test pause PHASE`), so a test can kill the
/// process right there.
struct TestPause: Sendable {
    enum Phase: String, Sendable {
        case inTransaction = "in-transaction"
        case afterCommit = "after-commit"
    }

    static let variable = "TOLLGATE_TEST_APPROVAL_PAUSE"

    let phase: Phase
    let seconds: Double

    /// The pause the environment asks for, if any.
    static var current: TestPause? {
        guard let value = ProcessInfo.processInfo.environment[variable] else { return nil }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let phase = Phase(rawValue: String(parts[0])), let seconds = Double(parts[1]), seconds > 0 else {
            return nil
        }
        return TestPause(phase: phase, seconds: seconds)
    }

    func wait() async {
        FileHandle.standardError.write(Data("tollgate: test pause \(phase.rawValue)\n".utf8))
        try? await Task.sleep(for: .seconds(seconds))
    }
}
