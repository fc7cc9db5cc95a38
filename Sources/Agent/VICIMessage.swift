/// A message of strongSwan's VICI protocol (src/libcharon/plugins/vici/README.md): an
/// ordered tree of sections, key/value pairs and lists of values, as `load-conn` and
/// friends take it and as charon answers.
public struct VICIMessage: Sendable, Equatable {
    /// One named element of a message or section.
    public enum Element: Sendable, Equatable {
        case value(String, [UInt8])
        case list(String, [[UInt8]])
        case section(String, [Element])

        public var name: String {
            switch self {
            case .value(let name, _), .list(let name, _), .section(let name, _): return name
            }
        }
    }

    public var elements: [Element]

    public init(_ elements: [Element] = []) { self.elements = elements }

    /// A key/value with text.
    public static func value(_ name: String, _ text: String) -> Element { .value(name, Array(text.utf8)) }
    /// A list of texts.
    public static func list(_ name: String, _ texts: [String]) -> Element { .list(name, texts.map { Array($0.utf8) }) }

    /// The text of top-level key `name`, if any.
    public subscript(name: String) -> String? {
        for case .value(let key, let bytes) in elements where key == name { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }

    // MARK: - Wire format

    enum ElementType: UInt8 {
        case sectionStart = 1, sectionEnd = 2, keyValue = 3, listStart = 4, listItem = 5, listEnd = 6
    }

    /// The encoded elements (without packet header). Names longer than 255 bytes and
    /// values longer than 65535 bytes cannot be encoded.
    public func encoded() throws(AgentError) -> [UInt8] {
        var out: [UInt8] = []
        try Self.encode(elements, into: &out)
        return out
    }

    private static func encode(_ elements: [Element], into out: inout [UInt8]) throws(AgentError) {
        for element in elements {
            switch element {
            case .value(let name, let bytes):
                out.append(ElementType.keyValue.rawValue)
                try name8(name, into: &out)
                try value16(bytes, into: &out)
            case .list(let name, let items):
                out.append(ElementType.listStart.rawValue)
                try name8(name, into: &out)
                for item in items {
                    out.append(ElementType.listItem.rawValue)
                    try value16(item, into: &out)
                }
                out.append(ElementType.listEnd.rawValue)
            case .section(let name, let children):
                out.append(ElementType.sectionStart.rawValue)
                try name8(name, into: &out)
                try encode(children, into: &out)
                out.append(ElementType.sectionEnd.rawValue)
            }
        }
    }

    private static func name8(_ name: String, into out: inout [UInt8]) throws(AgentError) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else { throw .strongSwan("VICI name \"\(name.prefix(40))\" must be 1 to 255 bytes") }
        out.append(UInt8(bytes.count))
        out += bytes
    }

    private static func value16(_ bytes: [UInt8], into out: inout [UInt8]) throws(AgentError) {
        guard bytes.count <= 65535 else { throw .strongSwan("VICI value of \(bytes.count) bytes (at most 65535)") }
        out.append(UInt8(bytes.count >> 8))
        out.append(UInt8(bytes.count & 0xff))
        out += bytes
    }

    /// Decodes elements; throws on a truncated or malformed message.
    public static func decode(_ bytes: [UInt8]) throws(AgentError) -> VICIMessage {
        var index = 0
        var stack: [(String, [Element])] = [("", [])]
        func fail(_ what: String) -> AgentError { .strongSwan("malformed VICI message from charon: \(what) at byte \(index)") }
        func take(_ count: Int) throws(AgentError) -> [UInt8] {
            guard index + count <= bytes.count else { throw fail("truncated") }
            defer { index += count }
            return Array(bytes[index..<index + count])
        }
        func name() throws(AgentError) -> String {
            let length = Int(try take(1)[0])
            return String(decoding: try take(length), as: UTF8.self)
        }
        func value() throws(AgentError) -> [UInt8] {
            let length = try take(2)
            return try take(Int(length[0]) << 8 | Int(length[1]))
        }
        var openList: (String, [[UInt8]])?
        while index < bytes.count {
            guard let type = ElementType(rawValue: try take(1)[0]) else { throw fail("unknown element type") }
            if openList != nil, type != .listItem, type != .listEnd { throw fail("list not closed") }
            switch type {
            case .sectionStart:
                stack.append((try name(), []))
            case .sectionEnd:
                guard stack.count > 1, let (sectionName, children) = stack.popLast() else { throw fail("section end without start") }
                stack[stack.count - 1].1.append(.section(sectionName, children))
            case .keyValue:
                let key = try name()
                stack[stack.count - 1].1.append(.value(key, try value()))
            case .listStart:
                openList = (try name(), [])
            case .listItem:
                guard openList != nil else { throw fail("list item outside a list") }
                openList?.1.append(try value())
            case .listEnd:
                guard let list = openList else { throw fail("list end without start") }
                stack[stack.count - 1].1.append(.list(list.0, list.1))
                openList = nil
            }
        }
        guard stack.count == 1, openList == nil else { throw fail("unclosed section or list") }
        return VICIMessage(stack[0].1)
    }
}
