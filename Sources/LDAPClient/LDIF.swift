import Foundation

/// One record of an LDIF file (RFC 2849).
public enum LDIFRecord: Sendable, Hashable {
    /// A content record, or a change record with `changetype: add`.
    case add(DistinguishedName, [(String, [Data])])
    case modify(DistinguishedName, [LDAPModification])
    case delete(DistinguishedName)

    public var dn: DistinguishedName {
        switch self {
        case .add(let dn, _), .modify(let dn, _), .delete(let dn): return dn
        }
    }

    public static func == (lhs: LDIFRecord, rhs: LDIFRecord) -> Bool {
        switch (lhs, rhs) {
        case (.add(let a, let x), .add(let b, let y)):
            return a == b && x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        case (.modify(let a, let x), .modify(let b, let y)): return a == b && x == y
        case (.delete(let a), .delete(let b)): return a == b
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(dn) }
}

/// A malformed LDIF file: where and what.
public struct LDIFError: Error, Sendable, CustomStringConvertible, Equatable {
    public var line: Int
    public var message: String
    public var description: String { "LDIF line \(line): \(message)" }
}

/// A parser for the LDIF subset Tollgate and its operators use: content records and
/// change records (`add`, `modify` with `add:`/`delete:`/`replace:`, `delete`), folded
/// lines, comments, base64 values (`attr:: …`). `attr:< URL` and `modrdn` are refused
/// with a clear error rather than misread.
public enum LDIFParser {
    /// Parses `text`; throws ``LDIFError`` naming the first bad line.
    public static func parse(_ text: String) throws -> [LDIFRecord] {
        // Unfold: a line starting with one space continues the previous line.
        var lines: [(number: Int, text: String)] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasPrefix(" "), let last = lines.last, !last.text.isEmpty {
                if last.text.hasPrefix("#") { continue }  // folded comment
                lines[lines.count - 1].text += line.dropFirst()
            } else {
                lines.append((number, line))
            }
        }
        // Split into records at blank lines, dropping comments.
        var records: [[(Int, String)]] = []
        var current: [(Int, String)] = []
        for (n, line) in lines {
            if line.hasPrefix("#") { continue }
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                if !current.isEmpty { records.append(current); current = [] }
                continue
            }
            current.append((n, line))
        }
        if !current.isEmpty { records.append(current) }

        var result: [LDIFRecord] = []
        for record in records {
            var pairs = try record.map { try parseLine($0.0, $0.1) }
            if pairs.first?.name.lowercased() == "version" {
                pairs.removeFirst()
                if pairs.isEmpty { continue }
            }
            guard let first = pairs.first, first.name.lowercased() == "dn" else {
                throw LDIFError(line: record[0].0, message: "a record must start with \"dn:\"")
            }
            let dn = DistinguishedName(String(decoding: first.value, as: UTF8.self))
            var rest = Array(pairs.dropFirst())
            var changeType = "add"
            var explicitChange = false
            if let next = rest.first, next.name.lowercased() == "changetype" {
                changeType = String(decoding: next.value, as: UTF8.self).lowercased()
                explicitChange = true
                rest.removeFirst()
            }
            switch changeType {
            case "add":
                var attributes: [(String, [Data])] = []
                for pair in rest {
                    if pair.name == "-" { throw LDIFError(line: pair.line, message: "\"-\" is only valid in a modify record") }
                    if let index = attributes.firstIndex(where: { $0.0.lowercased() == pair.name.lowercased() }) {
                        attributes[index].1.append(pair.value)
                    } else {
                        attributes.append((pair.name, [pair.value]))
                    }
                }
                if attributes.isEmpty {
                    throw LDIFError(line: record[0].0, message: explicitChange ? "an add record needs attributes" : "an entry needs attributes")
                }
                result.append(.add(dn, attributes))
            case "delete":
                if let extra = rest.first { throw LDIFError(line: extra.line, message: "a delete record takes no attributes") }
                result.append(.delete(dn))
            case "modify":
                result.append(.modify(dn, try parseModifications(rest, recordLine: record[0].0)))
            default:
                throw LDIFError(line: record[0].0, message: "changetype \"\(changeType)\" is not supported (use add, modify or delete)")
            }
        }
        return result
    }

    private struct Pair { var line: Int; var name: String; var value: Data }

    private static func parseLine(_ number: Int, _ line: String) throws -> Pair {
        if line == "-" { return Pair(line: number, name: "-", value: Data()) }
        guard let colon = line.firstIndex(of: ":") else {
            throw LDIFError(line: number, message: "expected \"attribute: value\", found \"\(line.prefix(60))\"")
        }
        let name = String(line[..<colon])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == ";" || $0 == "." }) else {
            throw LDIFError(line: number, message: "invalid attribute description \"\(name.prefix(60))\"")
        }
        var rest = line[line.index(after: colon)...]
        if rest.hasPrefix(":") {
            rest = rest.dropFirst()
            let encoded = rest.trimmingCharacters(in: .whitespaces)
            guard let data = Data(base64Encoded: encoded) else {
                throw LDIFError(line: number, message: "invalid base64 value for \"\(name)\"")
            }
            return Pair(line: number, name: name, value: data)
        }
        if rest.hasPrefix("<") {
            throw LDIFError(line: number, message: "URL values (\"\(name):<\") are not supported; inline the value as base64")
        }
        while rest.hasPrefix(" ") { rest = rest.dropFirst() }
        return Pair(line: number, name: name, value: Data(rest.utf8))
    }

    private static func parseModifications(_ pairs: [Pair], recordLine: Int) throws -> [LDAPModification] {
        var modifications: [LDAPModification] = []
        var index = 0
        while index < pairs.count {
            let header = pairs[index]
            let operation: LDAPModification.Operation
            switch header.name.lowercased() {
            case "add": operation = .add
            case "delete": operation = .delete
            case "replace": operation = .replace
            default:
                throw LDIFError(line: header.line, message: "expected add:, delete: or replace: in a modify record, found \"\(header.name):\"")
            }
            let attribute = String(decoding: header.value, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            var values: [Data] = []
            index += 1
            while index < pairs.count, pairs[index].name != "-" {
                let pair = pairs[index]
                guard pair.name.lowercased() == attribute.lowercased() else {
                    throw LDIFError(line: pair.line, message: "value for \"\(pair.name)\" inside the \"\(attribute)\" modification; end it with \"-\"")
                }
                values.append(pair.value)
                index += 1
            }
            index += 1  // skip "-"
            if operation == .add && values.isEmpty {
                throw LDIFError(line: header.line, message: "add: \(attribute) needs at least one value")
            }
            modifications.append(LDAPModification(operation, attribute, values))
        }
        if modifications.isEmpty { throw LDIFError(line: recordLine, message: "a modify record needs at least one modification") }
        return modifications
    }
}

extension LDAPClient {
    /// Applies LDIF records in order. Stops at the first failure and reports which record
    /// failed; records before it stay applied (LDAP has no multi-entry transactions).
    /// With `skipExisting`, adds of entries that exist already are skipped.
    @discardableResult
    public func apply(_ records: [LDIFRecord], skipExisting: Bool = false) async throws -> Int {
        var applied = 0
        for record in records {
            do {
                switch record {
                case .add(let dn, let attributes): try await add(dn, binaryAttributes: attributes)
                case .modify(let dn, let modifications): try await modify(dn, modifications)
                case .delete(let dn): try await delete(dn)
                }
                applied += 1
            } catch let error as LDAPError where skipExisting && error.code == .entryAlreadyExists {
                continue
            }
        }
        return applied
    }
}
