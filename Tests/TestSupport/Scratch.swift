import Foundation
import Synchronization

/// The next port `freePort()` tries: a random start in 20000..<32000 per test process.
private let nextPort = Atomic<Int>(Int.random(in: 0..<12_000))

/// A free TCP port on 127.0.0.1, taken from 20000–31999: below Linux's ephemeral range
/// (32768–60999), so that no outgoing connection of the suite (agents, probes, the fleet
/// simulator) can take it as its source port between this check and the server's bind.
/// Ports are handed out in turn, so concurrent tests in one process never get the same one.
public func freePort() -> Int {
    for _ in 0..<12_000 {
        let port = 20_000 + nextPort.add(1, ordering: .relaxed).newValue % 12_000
        if canBind(port: port) { return port }
    }
    return 0
}

/// True when 127.0.0.1:`port` can be bound now.
func canBind(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
public func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } } == 0
}

/// A short, fresh directory `/tmp/tgt-TAG-RANDOM` (ldapi socket paths must stay short).
public func temporaryDirectory(_ tag: String) -> String {
    let path = "/tmp/tgt-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Processes a test process started and must not leave behind: each gets its signal when
/// the test process exits (SIGTERM for servers that shut down cleanly, SIGKILL for ones
/// that ignore SIGTERM, such as aiosmtpd started from the test runner).
public enum ProcessCleanup {
    private static let registered = Mutex<[(pid: Int32, signal: Int32)]>([])
    private static let installAtExit: Void = {
        atexit {
            let all = ProcessCleanup.registered.withLock { $0 }
            for (pid, signal) in all { kill(pid, signal) }
            if all.contains(where: { $0.signal == SIGTERM }) { usleep(300_000) }
        }
    }()

    /// Sends `signal` to `pid` when the test process exits.
    public static func atExit(_ pid: Int32, signal: Int32 = SIGTERM) {
        _ = installAtExit
        registered.withLock { $0.append((pid, signal)) }
    }
}
