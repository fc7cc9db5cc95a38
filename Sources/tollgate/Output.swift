import Foundation

/// Printing helpers shared by the admin commands.
enum Output {
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// A plain aligned table.
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }
        print(line(header))
        for row in rows { print(line(row)) }
    }

    /// `key: value` lines for one object.
    static func fields(_ pairs: [(String, String?)]) {
        let width = pairs.map(\.0.count).max() ?? 0
        for (key, value) in pairs {
            guard let value, !value.isEmpty else { continue }
            print(key + ":" + String(repeating: " ", count: width - key.count + 1) + value)
        }
    }

    /// An informational line on stderr (`tollgate: note: …`).
    static func note(_ message: String) {
        FileHandle.standardError.write(Data("tollgate: note: \(message)\n".utf8))
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("tollgate: error: \(message)\n".utf8))
    }
}
