import NIOCore
import NIOSSL
import Synchronization

/// The client-certificate serial of each open connection, so that only a connection's
/// first request asks the TLS handler (a hop to the channel's event loop).
///
/// Entries are keyed by the channel's object identity and hold the channel weakly: a
/// closed and freed channel's entry no longer matches (even if a new channel reuses its
/// address), and such entries are purged as the table grows. A connection's certificate
/// cannot change (NIOSSL refuses renegotiation).
final class ConnectionSerials: Sendable {
    private struct Entry {
        weak var channel: (any Channel)?
        var serial: String?
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var purgeAt = 4096
    }
    private let state = Mutex(State())

    /// The serial of the verified client certificate of `channel`, nil without one.
    func serial(of channel: any Channel) async -> String? {
        let id = ObjectIdentifier(channel)
        let cached = state.withLock { state -> String?? in
            guard let entry = state.entries[id], entry.channel === channel else { return nil }
            return .some(entry.serial)
        }
        if let cached { return cached }
        let serial: String?
        if let certificate = try? await channel.nioSSL_peerCertificate().get() {
            serial = Self.hex(certificate.serialNumber)
        } else {
            serial = nil
        }
        state.withLock { state in
            if state.entries.count >= state.purgeAt {
                state.entries = state.entries.filter { $0.value.channel != nil }
                state.purgeAt = max(4096, state.entries.count * 2)
            }
            state.entries[id] = Entry(channel: channel, serial: serial)
        }
        return serial
    }

    /// Lower-case hex without leading zero bytes (as `SerialNumbers.hex` writes serials).
    static func hex(_ bytes: [UInt8]) -> String {
        let significant = bytes.drop { $0 == 0 }
        guard !significant.isEmpty else { return "0" }
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(significant.count * 2)
        for byte in significant {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
