import Foundation

/// A client of charon's VICI socket for the commands the agent issues itself
/// (`load-conn`, `unload-conn`, `load-key`, `load-cert`): unlike `swanctl --load-all`,
/// these touch only the agent's own connection and credentials and leave every other
/// connection charon has loaded alone. One UNIX-socket connection per command, blocking
/// I/O on a dispatch thread (never the cooperative pool).
public struct VICIClient: Sendable {
    /// The socket path, e.g. `/var/run/charon.vici`.
    public let socketPath: String
    /// Seconds a command may take.
    public let timeout: Int

    public static let defaultSocket = "/var/run/charon.vici"

    public init(socketPath: String?, timeout: Int = 15) {
        self.socketPath = socketPath ?? Self.defaultSocket
        self.timeout = max(1, timeout)
    }

    enum PacketType: UInt8 {
        case request = 0, response = 1, unknown = 2
    }

    /// Sends command `name` with `message`; returns charon's response. Throws when the
    /// command is unknown, the socket is unreachable or the answer says `success = no`.
    @discardableResult
    public func call(_ name: String, _ message: VICIMessage) async throws(AgentError) -> VICIMessage {
        let body = try message.encoded()
        let nameBytes = Array(name.utf8)
        var packet: [UInt8] = [PacketType.request.rawValue, UInt8(nameBytes.count)] + nameBytes + body
        let length = UInt32(packet.count)
        packet.insert(contentsOf: [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)], at: 0)
        let (socketPath, timeout) = (socketPath, timeout)
        let frozen = packet
        let answer = try await BlockingIO.run { () throws(AgentError) -> [UInt8] in
            try Self.exchange(frozen, socketPath: socketPath, timeout: timeout)
        }
        guard let type = answer.first.flatMap(PacketType.init(rawValue:)) else {
            throw .strongSwan("charon answered VICI \(name) with an unexpected packet")
        }
        guard type == .response else {
            throw .strongSwan("charon does not know the VICI command \(name) (is the vici plugin loaded?)")
        }
        let response = try VICIMessage.decode(Array(answer.dropFirst()))
        if let success = response["success"], success != "yes" {
            throw .strongSwan("charon refused \(name): \(response["errmsg"] ?? "no reason given")")
        }
        return response
    }

    /// Writes one packet and reads one back (length-prefixed), blocking.
    static func exchange(_ packet: [UInt8], socketPath: String, timeout: Int) throws(AgentError) -> [UInt8] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .strongSwan("cannot create a UNIX socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .strongSwan("VICI socket path too long: \(socketPath)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.enumerated() { raw[index] = byte }
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw .strongSwan("cannot connect to charon's VICI socket \(socketPath): \(String(cString: strerror(errno))); is charon running (--vici-socket)?")
        }
        try writeAll(fd, packet)
        let header = try readExactly(fd, 4)
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length > 0, length <= 512 * 1024 else { throw .strongSwan("VICI answer of \(length) bytes") }
        return try readExactly(fd, length)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(AgentError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .strongSwan("writing to charon's VICI socket: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    private static func readExactly(_ fd: Int32, _ count: Int) throws(AgentError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = buffer[offset...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .strongSwan("reading from charon's VICI socket: \(String(cString: strerror(errno)))")
            }
            guard got > 0 else { throw .strongSwan("charon closed the VICI connection mid-answer") }
            offset += got
        }
        return buffer
    }
}
