import Foundation
import Subscription
import TestSupport
import Testing

/// Sends a request to `server` with curl; returns (status, body). With `includeHeaders`
/// the body starts with the response headers.
func httpRequest(_ server: TollgateProcess, _ path: String, body: String? = nil, contentType: String = "application/json",
                 headers: [String] = [], includeHeaders: Bool = false) async throws -> (Int, String) {
    var args = ["-s", "-m", "10", "--cacert", server.rootCA, "-w", "\n%{http_code}"]
    if includeHeaders { args.append("-i") }
    if let body {
        let file = temporaryDirectory("http") + "/body"
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        args += ["-H", "Content-Type: \(contentType)", "--data-binary", "@\(file)"]
    }
    for header in headers { args += ["-H", header] }
    let result = try await run("/usr/bin/curl", args + ["\(server.url)\(path)"])
    let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
    return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
}

/// A JSON object from a response body.
func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
}

/// A valid application as JSON (the body of POST /v1/applications).
func applicationJSON(organisation: String, mail: String = "noc@api.example", firmware: String = "6.0.1",
                     converter: String = "gw-1", network: String = "10.70.0.0/16") -> String {
    """
    {"organisation": \(jsonString(organisation)), "mail": \(jsonString(mail)), "billingMethod": "card",
     "converters": [{"name": \(jsonString(converter)), "address": "198.51.100.7", "model": "strongswan", "firmware": \(jsonString(firmware)),
                     "ikeVersions": [2], "ikeProposals": ["aes256gcm16-prfsha384-ecp384"]}],
     "destinations": [{"network": \(jsonString(network)), "protocol": "tcp", "ports": ["443"]}]}
    """
}

/// Submits an application over the JSON API; returns (id, statusToken, the 201 body).
func submitApplication(_ server: TollgateProcess, _ json: String) async throws -> (id: String, token: String, body: [String: Any]) {
    let (status, body) = try await httpRequest(server, "/v1/applications", body: json)
    try #require(status == 201, "POST /v1/applications: \(status) \(body)")
    let object = try jsonObject(body)
    return (try #require(object["id"] as? String), try #require(object["statusToken"] as? String), object)
}

/// Polls `condition` every 100 ms for up to `seconds`; true once it holds.
func eventually(_ seconds: Double = 15, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

/// A random lower-case tag for unique names.
func randomTag() -> String { String(UInt32.random(in: 0...UInt32.max), radix: 36) }

/// `tollgate admin history [--org N] [--since T] --json` as (type, data) pairs.
func historyEvents(_ server: TollgateProcess, org: String?, since: String? = nil) async throws -> [(type: String, data: String?)] {
    var arguments = ["history", "--json"]
    if let org { arguments += ["--org", org] }
    if let since { arguments += ["--since", since] }
    let result = try await server.admin(arguments)
    try #require(result.status == 0, "\(result.output)")
    let start = try #require(result.output.firstIndex(of: "["), "\(result.output)")
    let list = try #require(try JSONSerialization.jsonObject(with: Data(result.output[start...].utf8)) as? [[String: Any]])
    return list.map { ($0["type"] as? String ?? "", $0["data"] as? String) }
}

/// The JSON object a command printed (`approve --json`), after any notes on stderr.
func printedObject(_ output: String) throws -> [String: Any] {
    let start = try #require(output.firstIndex(of: "{"), "no JSON in: \(output)")
    return try jsonObject(String(output[start...]))
}
