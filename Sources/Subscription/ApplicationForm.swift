import Directory
import Foundation

/// What a person typed into the `/apply` form, row by row, exactly as typed (so that a
/// form with errors comes back with every value kept).
///
/// Field names are those of the JSON API with row indexes: `organisation`, `mail`,
/// `billingMethod`, `converters[i].name|address|model|firmware|ikeVersions|ikeProposals`,
/// `destinations[i].network|protocol|ports`; so an error names its input. Rows whose
/// text fields are all empty are ignored; IKE proposals and ports are lists separated by
/// commas or spaces.
public struct ApplicationForm: Sendable, Equatable {
    public struct ConverterRow: Sendable, Equatable {
        public var name = ""
        public var address = ""
        public var model = ""
        public var firmware = ""
        /// The checked IKE versions ("1", "2"), as sent.
        public var ikeVersions: [String] = ["2"]
        public var ikeProposals = ""

        public init() {}

        /// True when every text field is empty (the checkboxes do not count).
        var isBlank: Bool { [name, address, model, firmware, ikeProposals].allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }
    }

    public struct DestinationRow: Sendable, Equatable {
        public var network = ""
        public var `protocol` = "tcp"
        public var ports = ""

        public init() {}

        /// True when network and ports are empty (the protocol menu does not count).
        var isBlank: Bool { [network, ports].allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }
    }

    public var organisation = ""
    public var mail = ""
    public var billingMethod = "invoice"
    public var converters: [ConverterRow]
    public var destinations: [DestinationRow]

    /// Rows of a fresh form.
    public static let initialConverterRows = 2
    public static let initialDestinationRows = 3

    public init(converterRows: Int = ApplicationForm.initialConverterRows, destinationRows: Int = ApplicationForm.initialDestinationRows) {
        converters = Array(repeating: ConverterRow(), count: converterRows)
        destinations = Array(repeating: DestinationRow(), count: destinationRows)
    }

    /// The form from decoded `application/x-www-form-urlencoded` fields. The row counts
    /// come from the hidden `converterRows`/`destinationRows` fields, limited to
    /// `maximumConverters`/`maximumDestinations`.
    public init(fields: [(String, String)], maximumConverters: Int, maximumDestinations: Int) {
        var single: [String: String] = [:]
        var versions: [Int: [String]] = [:]
        for (key, value) in fields {
            if let row = Self.rowField(key, "converters"), row.1 == "ikeVersions" {
                versions[row.0, default: []].append(value)
            } else if single[key] == nil {
                single[key] = value
            }
        }
        let converterCount = min(max(1, Int(single["converterRows"] ?? "") ?? Self.initialConverterRows), max(1, maximumConverters))
        let destinationCount = min(max(1, Int(single["destinationRows"] ?? "") ?? Self.initialDestinationRows), max(1, maximumDestinations))
        self.init(converterRows: converterCount, destinationRows: destinationCount)
        organisation = single["organisation"] ?? ""
        mail = single["mail"] ?? ""
        billingMethod = single["billingMethod"] ?? ""
        for i in 0..<converterCount {
            let p = "converters[\(i)]."
            converters[i].name = single[p + "name"] ?? ""
            converters[i].address = single[p + "address"] ?? ""
            converters[i].model = single[p + "model"] ?? ""
            converters[i].firmware = single[p + "firmware"] ?? ""
            converters[i].ikeVersions = versions[i] ?? []
            converters[i].ikeProposals = single[p + "ikeProposals"] ?? ""
        }
        for i in 0..<destinationCount {
            let p = "destinations[\(i)]."
            destinations[i].network = single[p + "network"] ?? ""
            destinations[i].protocol = single[p + "protocol"] ?? ""
            destinations[i].ports = single[p + "ports"] ?? ""
        }
    }

    /// `converters[3].name` → (3, "name").
    static func rowField(_ key: String, _ list: String) -> (Int, String)? {
        guard key.hasPrefix(list + "["), let close = key.firstIndex(of: "]") else { return nil }
        let number = key[key.index(key.startIndex, offsetBy: list.count + 1)..<close]
        let rest = key[key.index(after: close)...]
        guard let index = Int(number), index >= 0, rest.hasPrefix(".") else { return nil }
        return (index, String(rest.dropFirst()))
    }

    /// The API request this form stands for, without blank rows, and the form errors
    /// that cannot reach the request (an IKE version that is not a number).
    ///
    /// Problems of the request name request indexes; ``formField(_:)`` maps them back to
    /// the rows of this form.
    public func request() -> (request: ApplicationRequest, problems: [InvalidFieldError], mapping: RowMapping) {
        var mapping = RowMapping()
        var problems: [InvalidFieldError] = []
        var converterRequests: [ApplicationRequest.ConverterRequest] = []
        for (row, converter) in converters.enumerated() where !converter.isBlank {
            mapping.converters.append(row)
            var numbers: [Int] = []
            for text in converter.ikeVersions {
                if let number = Int(text) { numbers.append(number) } else {
                    problems.append(InvalidFieldError(field: "converters[\(row)].ikeVersions", message: "\"\(text.prefix(20))\" is not an IKE version (1 or 2)"))
                }
            }
            converterRequests.append(.init(name: converter.name.trimmed, address: converter.address.trimmed, model: converter.model.trimmed,
                                           firmware: converter.firmware.trimmed, ikeVersions: numbers,
                                           ikeProposals: Self.list(converter.ikeProposals)))
        }
        var destinationRequests: [ApplicationRequest.DestinationRequest] = []
        for (row, destination) in destinations.enumerated() where !destination.isBlank {
            mapping.destinations.append(row)
            let ports = Self.list(destination.ports)
            destinationRequests.append(.init(network: destination.network.trimmed, protocol: destination.protocol,
                                             ports: ports.isEmpty ? nil : ports))
        }
        let request = ApplicationRequest(organisation: organisation.trimmed, mail: mail.trimmed, billingMethod: billingMethod,
                                         converters: converterRequests, destinations: destinationRequests)
        return (request, problems, mapping)
    }

    /// Which form row each request entry came from.
    public struct RowMapping: Sendable, Equatable {
        public var converters: [Int] = []
        public var destinations: [Int] = []

        /// `converters[0].firmware` of the request → `converters[ROW].firmware` of the form.
        public func formField(_ field: String) -> String {
            for (list, rows) in [("converters", converters), ("destinations", destinations)] {
                if let row = ApplicationForm.rowField(field, list), row.0 < rows.count {
                    return "\(list)[\(rows[row.0])].\(row.1)"
                }
            }
            return field
        }
    }

    /// `"a, b c"` → `["a", "b", "c"]`.
    static func list(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
    }
}

extension String {
    /// Without leading and trailing spaces (people paste them; no field wants them).
    var trimmed: String { trimmingCharacters(in: .whitespaces) }
}

/// `application/x-www-form-urlencoded` decoding (WHATWG URL standard): `&`-separated
/// `name=value` pairs, `+` for space, percent-escapes in UTF-8.
public enum FormEncoding {
    /// The pairs in order (repeated names kept); nil when an escape is malformed or the
    /// bytes are not UTF-8.
    public static func decode(_ body: String) -> [(String, String)]? {
        var pairs: [(String, String)] = []
        for part in body.split(separator: "&", omittingEmptySubsequences: true) {
            let halves = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = unescape(halves[0]), let value = unescape(halves.count > 1 ? halves[1] : "") else { return nil }
            pairs.append((name, value))
        }
        return pairs
    }

    static func unescape(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
