/// Errors of the managed slapd, each saying what to do about it.
public enum SlapdError: Error, Sendable, CustomStringConvertible {
    case notInitialized(String)
    case cannotRun(String, String)
    case commandFailed(String, Int32, String)
    case startFailed(String)
    case stopFailed(String)
    case resourcesNotFound([String])
    case invalidDataDirectory(String)

    public var description: String {
        switch self {
        case .notInitialized(let dir):
            return "no Tollgate directory in \(dir): run `tollgate directory init --data \(dir)` first"
        case .cannotRun(let program, let why):
            return "cannot run \(program): \(why) (is Debian's slapd package installed? apt-get install slapd ldap-utils)"
        case .commandFailed(let command, let status, let output):
            return "\(command) exited with status \(status): \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .startFailed(let why):
            return "slapd did not start: \(why)"
        case .stopFailed(let why):
            return "slapd did not stop: \(why)"
        case .resourcesNotFound(let tried):
            return "cannot find Tollgate's schema/ and ldif/ folders (looked in \(tried.joined(separator: ", "))); set TOLLGATE_RESOURCES to the folder that holds them"
        case .invalidDataDirectory(let why):
            return "unusable data directory: \(why)"
        }
    }
}
