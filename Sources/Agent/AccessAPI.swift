import Foundation

/// `POST /v1/access/check` request (see the access contract in docs/agent.md).
public struct AccessCheckRequest: Codable, Sendable, Equatable {
    public var source: String?
    public var destination: String
    public var `protocol`: String?
    public var port: Int?

    public init(source: String? = nil, destination: String, protocol: String? = nil, port: Int? = nil) {
        self.source = source
        self.destination = destination
        self.protocol = `protocol`
        self.port = port
    }
}

/// The server's decision.
public struct AccessDecision: Codable, Sendable, Equatable {
    public var allow: Bool
    public var reason: String?
    /// DN of the rule that decided, nil when nothing matched.
    public var rule: String?
    public var ttl: Int?
    /// The server answered from its last synced directory state (directory unreachable).
    public var stale: Bool?
    public var policyVersion: String?
    public var org: String?
    public var converter: String?
    public var addresses: [String]?
}

/// One entry of the tenant's destination directory, as `GET /v1/policy` lists it.
public struct PolicyDestination: Codable, Sendable, Equatable {
    public var dn: String
    public var name: String
    /// CIDR, IPv4 or IPv6.
    public var network: String
    /// tcp, udp, icmp, esp or any.
    public var `protocol`: String
    /// "443" or "8000-8080"; empty: all ports.
    public var ports: [String]
    /// allow or deny.
    public var action: String
    public var notBefore: Date?
    public var notAfter: Date?
    public var description: String?

    public init(dn: String, name: String, network: String, protocol: String = "any", ports: [String] = [], action: String = "allow",
                notBefore: Date? = nil, notAfter: Date? = nil, description: String? = nil) {
        self.dn = dn
        self.name = name
        self.network = network
        self.protocol = `protocol`
        self.ports = ports
        self.action = action
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case dn, name, network, `protocol`, ports, action, notBefore, notAfter, description
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        dn = try container.decode(String.self, forKey: .dn)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? dn
        network = try container.decode(String.self, forKey: .network)
        `protocol` = try container.decodeIfPresent(String.self, forKey: .protocol) ?? "any"
        ports = try container.decodeIfPresent([String].self, forKey: .ports) ?? []
        action = try container.decodeIfPresent(String.self, forKey: .action) ?? "allow"
        notBefore = try container.decodeIfPresent(Date.self, forKey: .notBefore)
        notAfter = try container.decodeIfPresent(Date.self, forKey: .notAfter)
        description = try container.decodeIfPresent(String.self, forKey: .description)
    }

    /// Valid at `now` (notBefore ≤ now < notAfter).
    public func isValid(at now: Date) -> Bool {
        if let notBefore, now < notBefore { return false }
        if let notAfter, now >= notAfter { return false }
        return true
    }
}

/// `GET /v1/policy`: the tenant's destination set with a version.
public struct AccessPolicy: Codable, Sendable, Equatable {
    public var org: String
    public var converter: String
    public var version: String
    public var stale: Bool
    public var ttl: Int?
    public var destinations: [PolicyDestination]

    public init(org: String, converter: String, version: String, stale: Bool = false, ttl: Int? = nil,
                destinations: [PolicyDestination]) {
        self.org = org
        self.converter = converter
        self.version = version
        self.stale = stale
        self.ttl = ttl
        self.destinations = destinations
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        org = try container.decodeIfPresent(String.self, forKey: .org) ?? ""
        converter = try container.decodeIfPresent(String.self, forKey: .converter) ?? ""
        version = try container.decodeIfPresent(String.self, forKey: .version) ?? ""
        stale = try container.decodeIfPresent(Bool.self, forKey: .stale) ?? false
        ttl = try container.decodeIfPresent(Int.self, forKey: .ttl)
        destinations = try container.decode([PolicyDestination].self, forKey: .destinations)
    }
}

/// The converter API over mutual TLS.
public struct AccessClient: Sendable {
    public let client: HTTPSClient

    public init(client: HTTPSClient) { self.client = client }

    /// A check's outcome with the raw JSON (for `check --json`).
    public struct CheckResult: Sendable {
        public var decision: AccessDecision
        public var json: String
    }

    /// `POST /v1/access/check`.
    public func check(_ request: AccessCheckRequest, timeout: Duration = .seconds(30)) async throws(AgentError) -> CheckResult {
        let body: Data
        do { body = try JSONEncoder().encode(request) } catch { throw .usage("cannot encode the request: \(error)") }
        let response = try await client.send(method: .POST, path: "/v1/access/check",
                                             headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
                                             body: Array(body), timeout: timeout)
        guard response.status == 200 else {
            if response.status == 503 {
                throw .unavailable("the server cannot decide (\(response.errorMessage)); it fails closed: treat as deny")
            }
            throw AgentError.http(status: response.status, body: response.errorMessage, what: "POST /v1/access/check")
        }
        do {
            return CheckResult(decision: try JSONCoding.decoder.decode(AccessDecision.self, from: Data(response.body)), json: response.text)
        } catch {
            throw .unexpectedResponse("the check answer is not a decision: \(error)")
        }
    }

    /// What `GET /v1/policy` answered.
    public enum PolicyAnswer: Sendable, Equatable {
        /// 200: the policy and its ETag.
        case changed(AccessPolicy, etag: String)
        /// 304: the version named in If-None-Match is still current.
        case notModified
    }

    /// `GET /v1/policy`; with `etag` and `wait` a long-poll that returns when the policy
    /// changes or after `wait` seconds (304).
    public func policy(etag: String?, wait: Int?) async throws(AgentError) -> PolicyAnswer {
        var headers: [(String, String)] = [("Accept", "application/json")]
        if let etag { headers.append(("If-None-Match", etag)) }
        var path = "/v1/policy"
        if let wait, etag != nil, wait > 0 { path += "?wait=\(wait)" }
        let timeout = Duration.seconds((etag != nil ? (wait ?? 0) : 0) + 30)
        let response = try await client.send(method: .GET, path: path, headers: headers, timeout: timeout)
        switch response.status {
        case 200:
            do {
                let policy = try JSONCoding.decoder.decode(AccessPolicy.self, from: Data(response.body))
                let etag = response.header("ETag") ?? "\"\(policy.version)\""
                return .changed(policy, etag: etag)
            } catch {
                throw .unexpectedResponse("the policy is not valid JSON of the expected shape: \(error)")
            }
        case 304:
            return .notModified
        default:
            throw AgentError.http(status: response.status, body: response.errorMessage, what: "GET /v1/policy")
        }
    }
}
