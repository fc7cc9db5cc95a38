import Directory
import Foundation

/// The automatic review of applications, read from a JSON file (`serve --review-rules`).
///
/// Every rule has a dotted name that the verdict quotes, e.g. `rule firmware.minimum:
/// strongswan 5.9.8 required, got 5.8.0`. Missing keys take the built-in default.
public struct ReviewRules: Codable, Sendable, Hashable {
    /// Supported converter models (lower-case) and the minimum firmware of each
    /// (`model.supported`, `firmware.minimum`).
    public var minimumFirmware: [String: String]
    /// IKE version every converter must support (`ike.version`); nil: any.
    public var requiredIkeVersion: Int?
    /// A converter must support at least one of these proposals (`ike.proposal`); empty: any.
    public var requiredProposals: [String]
    /// Destinations that must not overlap these networks (`destination.forbidden`).
    public var forbiddenNetworks: [String]
    /// Most converters per tenant (`limit.converters`).
    public var maxConverters: Int
    /// Most destinations per tenant (`limit.destinations`).
    public var maxDestinations: Int
    /// Approve automatically when every rule passes; otherwise leave pending for an operator.
    public var autoApprove: Bool

    public init(minimumFirmware: [String: String], requiredIkeVersion: Int?, requiredProposals: [String],
                forbiddenNetworks: [String], maxConverters: Int, maxDestinations: Int, autoApprove: Bool) {
        self.minimumFirmware = minimumFirmware
        self.requiredIkeVersion = requiredIkeVersion
        self.requiredProposals = requiredProposals
        self.forbiddenNetworks = forbiddenNetworks
        self.maxConverters = maxConverters
        self.maxDestinations = maxDestinations
        self.autoApprove = autoApprove
    }

    /// The built-in rules (documented in docs/subscription.md).
    public static let `default` = ReviewRules(
        minimumFirmware: ["strongswan": "5.9.8", "libreswan": "4.12"],
        requiredIkeVersion: 2,
        requiredProposals: ["aes256-sha256-modp2048", "aes256gcm16-prfsha384-ecp384", "aes128gcm16-prfsha256-ecp256"],
        forbiddenNetworks: ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "::1/128", "fe80::/10", "ff00::/8"],
        maxConverters: 16, maxDestinations: 64, autoApprove: false)

    enum CodingKeys: String, CodingKey {
        case minimumFirmware, requiredIkeVersion, requiredProposals, forbiddenNetworks, maxConverters, maxDestinations, autoApprove
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self.default
        minimumFirmware = Dictionary(uniqueKeysWithValues: (try c.decodeIfPresent([String: String].self, forKey: .minimumFirmware) ?? d.minimumFirmware)
            .map { ($0.key.lowercased(), $0.value) })
        requiredIkeVersion = c.contains(.requiredIkeVersion) ? try c.decodeIfPresent(Int.self, forKey: .requiredIkeVersion) : d.requiredIkeVersion
        requiredProposals = try c.decodeIfPresent([String].self, forKey: .requiredProposals) ?? d.requiredProposals
        forbiddenNetworks = try c.decodeIfPresent([String].self, forKey: .forbiddenNetworks) ?? d.forbiddenNetworks
        maxConverters = try c.decodeIfPresent(Int.self, forKey: .maxConverters) ?? d.maxConverters
        maxDestinations = try c.decodeIfPresent(Int.self, forKey: .maxDestinations) ?? d.maxDestinations
        autoApprove = try c.decodeIfPresent(Bool.self, forKey: .autoApprove) ?? d.autoApprove
    }

    /// Reads and checks a rules file.
    public static func load(path: String) throws(SubscriptionError) -> ReviewRules {
        let rules: ReviewRules
        do {
            rules = try JSONDecoder().decode(ReviewRules.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .badRules(path, "\(error)")
        }
        for network in rules.forbiddenNetworks where (try? IPNetwork(parsing: network)) == nil {
            throw .badRules(path, "forbiddenNetworks: \"\(network)\" is not a CIDR network")
        }
        return rules
    }

    /// The first rule `application` breaks, as a verdict reason; nil when all pass.
    public func violation(of application: Application) -> String? {
        if application.converters.count > maxConverters {
            return "rule limit.converters: at most \(maxConverters) converters per tenant, got \(application.converters.count)"
        }
        if application.destinations.count > maxDestinations {
            return "rule limit.destinations: at most \(maxDestinations) destinations per tenant, got \(application.destinations.count)"
        }
        for converter in application.converters {
            let model = converter.model.lowercased()
            guard let minimum = minimumFirmware[model] else {
                return "rule model.supported: converter \(converter.name): model \(converter.model) is not supported (supported: \(minimumFirmware.keys.sorted().joined(separator: ", ")))"
            }
            if Self.compareVersions(converter.firmware, minimum) == .orderedAscending {
                return "rule firmware.minimum: \(model) \(minimum) required, got \(converter.firmware)"
            }
            if let requiredIkeVersion, !converter.ikeVersions.contains(requiredIkeVersion) {
                return "rule ike.version: converter \(converter.name): IKEv\(requiredIkeVersion) required"
            }
            if !requiredProposals.isEmpty,
               !converter.ikeProposals.contains(where: { p in requiredProposals.contains { $0.caseInsensitiveCompare(p) == .orderedSame } }) {
                return "rule ike.proposal: converter \(converter.name): one of \(requiredProposals.joined(separator: ", ")) required"
            }
        }
        let forbidden = forbiddenNetworks.compactMap { try? IPNetwork(parsing: $0) }
        for requested in application.destinations {
            guard let network = try? IPNetwork(parsing: requested.network) else { continue }
            if let hit = forbidden.first(where: { $0.contains(network.first) || network.contains($0.first) }) {
                return "rule destination.forbidden: \(network) overlaps \(hit)"
            }
        }
        return nil
    }

    /// Compares dotted versions numerically where both parts are numbers (5.10 > 5.9).
    static func compareVersions(_ a: String, _ b: String) -> ComparisonResult {
        let x = a.split(separator: "."), y = b.split(separator: ".")
        for i in 0..<max(x.count, y.count) {
            let p = i < x.count ? String(x[i]) : "0", q = i < y.count ? String(y[i]) : "0"
            if let m = Int(p), let n = Int(q) {
                if m != n { return m < n ? .orderedAscending : .orderedDescending }
            } else if p != q {
                return p < q ? .orderedAscending : .orderedDescending
            }
        }
        return .orderedSame
    }
}
