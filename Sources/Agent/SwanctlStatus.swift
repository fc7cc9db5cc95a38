/// A CHILD_SA as `swanctl --list-sas --raw` reports it (counters for monitoring).
public struct ChildSAState: Sendable, Equatable {
    public var name: String
    public var uniqueID: String
    public var state: String
    public var bytesIn: UInt64
    public var packetsIn: UInt64
    public var bytesOut: UInt64
    public var packetsOut: UInt64
    public var localTS: [String]
    public var remoteTS: [String]
    /// The inbound SPI (hex), part of what identifies this CHILD_SA across charon restarts.
    public var spiIn: String = ""
    /// Seconds since the CHILD_SA was installed, when reported.
    public var installSeconds: UInt64? = nil

    /// Installed and carrying traffic (also while it is being rekeyed).
    public var isUp: Bool { ["INSTALLED", "REKEYING", "REKEYED"].contains(state) }
}

/// An IKE_SA with its CHILD_SAs.
public struct IKESAState: Sendable, Equatable {
    public var name: String
    public var uniqueID: String
    public var state: String
    public var remoteHost: String
    public var children: [ChildSAState]
}

/// Parser for swanctl's `--raw` dump of VICI messages, e.g.
/// `list-sa event {tollgate {uniqueid=1 state=ESTABLISHED child-sas {d-x-1 {name=d-x … remote-ts=[10.0.0.0/8]}}}}`.
public enum SwanctlRaw {
    public indirect enum Node: Sendable, Equatable {
        case value(String)
        case list([String])
        case section([Entry])

        public subscript(key: String) -> Node? {
            guard case .section(let items) = self else { return nil }
            return items.first { $0.key == key }?.node
        }

        public var string: String? { if case .value(let text) = self { text } else { nil } }
        public var strings: [String] { if case .list(let items) = self { items } else if let string { [string] } else { [] } }
        public var entries: [Entry] { if case .section(let items) = self { items } else { [] } }
    }

    public struct Entry: Sendable, Equatable {
        public var key: String
        public var node: Node
    }

    /// Parses one message (from its first `{`).
    public static func parse(_ text: Substring) -> Node {
        var index = text.startIndex
        func skipSpace() { while index < text.endIndex, text[index].isWhitespace { index = text.index(after: index) } }
        func word(stoppingAt stops: Set<Character>) -> String {
            let start = index
            while index < text.endIndex, !text[index].isWhitespace, !stops.contains(text[index]) { index = text.index(after: index) }
            return String(text[start..<index])
        }
        func section() -> Node {
            var items: [Entry] = []
            while true {
                skipSpace()
                guard index < text.endIndex else { break }
                if text[index] == "}" {
                    index = text.index(after: index)
                    break
                }
                let key = word(stoppingAt: ["=", "{", "}"])
                skipSpace()
                guard index < text.endIndex else { break }
                if text[index] == "{" {
                    index = text.index(after: index)
                    items.append(Entry(key: key, node: section()))
                } else if text[index] == "=" {
                    index = text.index(after: index)
                    if index < text.endIndex, text[index] == "[" {
                        index = text.index(after: index)
                        let end = text[index...].firstIndex(of: "]") ?? text.endIndex
                        items.append(Entry(key: key, node: .list(text[index..<end].split(separator: " ").map(String.init))))
                        index = end < text.endIndex ? text.index(after: end) : end
                    } else {
                        items.append(Entry(key: key, node: .value(word(stoppingAt: ["}"]))))
                    }
                } else if key.isEmpty {
                    index = text.index(after: index)
                }
            }
            return .section(items)
        }
        guard let open = text.firstIndex(of: "{") else { return .section([]) }
        index = text.index(after: open)
        return section()
    }

    /// The IKE_SAs in `swanctl --list-sas --raw` output.
    public static func listSAs(_ output: String) -> [IKESAState] {
        var result: [IKESAState] = []
        for line in output.split(separator: "\n") where line.hasPrefix("list-sa event") {
            for entry in parse(line).entries {
                let ike = entry.node
                let children = (ike["child-sas"]?.entries ?? []).map { child in
                    ChildSAState(
                        name: child.node["name"]?.string ?? child.key,
                        uniqueID: child.node["uniqueid"]?.string ?? "",
                        state: child.node["state"]?.string ?? "",
                        bytesIn: UInt64(child.node["bytes-in"]?.string ?? "") ?? 0,
                        packetsIn: UInt64(child.node["packets-in"]?.string ?? "") ?? 0,
                        bytesOut: UInt64(child.node["bytes-out"]?.string ?? "") ?? 0,
                        packetsOut: UInt64(child.node["packets-out"]?.string ?? "") ?? 0,
                        localTS: child.node["local-ts"]?.strings ?? [],
                        remoteTS: child.node["remote-ts"]?.strings ?? [],
                        spiIn: child.node["spi-in"]?.string ?? "",
                        installSeconds: child.node["install-time"]?.string.flatMap { UInt64($0) })
                }
                result.append(IKESAState(name: entry.key, uniqueID: ike["uniqueid"]?.string ?? "", state: ike["state"]?.string ?? "",
                                         remoteHost: ike["remote-host"]?.string ?? "", children: children))
            }
        }
        return result
    }

    /// Connection names in `swanctl --list-conns --raw` output.
    public static func connectionNames(_ output: String) -> [String] {
        output.split(separator: "\n").filter { $0.hasPrefix("list-conn event") }.flatMap { parse($0).entries.map(\.key) }
    }
}
