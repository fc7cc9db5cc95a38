import Directory
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Resolves DNS names with `getaddrinfo(3)` on a dispatch queue (never on Swift's
/// cooperative pool), with a timeout and a cap on lookups in flight.
public final class HostResolver: Sendable {
    public let timeout: Duration
    public let maximumInFlight: Int
    private let inFlight = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "tollgate.access.resolver", attributes: .concurrent)

    public init(timeout: Duration = .seconds(2), maximumInFlight: Int = 32) {
        self.timeout = timeout
        self.maximumInFlight = maximumInFlight
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case notFound(String, String)
        case timedOut(String, Duration)
        case busy

        public var description: String {
            switch self {
            case .notFound(let name, let why): return "\(name) does not resolve: \(why)"
            case .timedOut(let name, let timeout): return "resolving \(name) took longer than \(timeout)"
            case .busy: return "too many name lookups in progress; retry or send addresses"
            }
        }
    }

    /// True for text that can be a DNS host name (letters, digits, hyphens, dots;
    /// labels of 1–63 characters, 253 at most, not all-numeric at the end).
    public static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let name = text.hasSuffix(".") ? String(text.dropLast()) : text
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d })
            else { return false }
        }
        return !(labels.last?.allSatisfy(\.isNumber) ?? true)
    }

    /// The IPv4 and IPv6 addresses of `name`, in the resolver's order, without duplicates.
    public func resolve(_ name: String) async throws(Failure) -> [IPAddress] {
        guard inFlight.wrappingAdd(1, ordering: .relaxed).oldValue < maximumInFlight else {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            throw .busy
        }
        let once = Once<Result<[IPAddress], Failure>>()
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[IPAddress], Failure>, Never>) in
            once.set(continuation)
            queue.async {
                defer { self.inFlight.wrappingSubtract(1, ordering: .relaxed) }
                once.resume(Self.lookup(name))
            }
            let (seconds, attoseconds) = timeout.components
            let delay = Double(seconds) + Double(attoseconds) / 1e18
            queue.asyncAfter(deadline: .now() + delay) { [timeout] in once.resume(.failure(.timedOut(name, timeout))) }
        }
        return try result.get()
    }

    private static func lookup(_ name: String) -> Result<[IPAddress], Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &list)
        guard rc == 0 else { return .failure(.notFound(name, String(cString: gai_strerror(rc)))) }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var node = list
        while let current = node {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            if let sockaddr = current.pointee.ai_addr {
                switch current.pointee.ai_family {
                case AF_INET:
                    sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        var address = pointer.pointee.sin_addr
                        _ = inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
                    }
                case AF_INET6:
                    sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        var address = pointer.pointee.sin6_addr
                        _ = inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
                    }
                default:
                    break
                }
            }
            if let address = IPAddress(String(cString: buffer)), !addresses.contains(address) { addresses.append(address) }
            node = current.pointee.ai_next
        }
        return addresses.isEmpty ? .failure(.notFound(name, "no IPv4 or IPv6 address")) : .success(addresses)
    }
}

/// A continuation resumed at most once, by whichever of several racers comes first.
private final class Once<Value: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Value, Never>?, pending: Value?)>((nil, nil))

    func set(_ continuation: CheckedContinuation<Value, Never>) {
        let ready = state.withLock { state -> Value? in
            if let pending = state.pending { return pending }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }

    func resume(_ value: Value) {
        let continuation = state.withLock { state -> CheckedContinuation<Value, Never>? in
            if let continuation = state.continuation {
                state.continuation = nil
                state.pending = value  // later racers see a value and do nothing
                return continuation
            }
            if state.pending == nil { state.pending = value }
            return nil
        }
        continuation?.resume(returning: value)
    }
}
