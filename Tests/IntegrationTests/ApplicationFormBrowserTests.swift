import Directory
import Foundation
import LDAPClient
import Subscription
import Synchronization
import TestSupport
import Testing

/// What Tests/Browser/apply_form.py saw at a `snapshot` step.
struct BrowserSnapshot: Decodable {
    enum Control: Decodable, Equatable {
        case text(String)
        case checked(Bool)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) { self = .checked(flag) } else { self = .text(try container.decode(String.self)) }
        }
    }

    var alert: Bool
    var title: String?
    var url: String?
    var controls: [String: Control]?
    var errors: [String: String]?
    var ids: [String: String]?
    var scripts: Int?
    var source: String?

    func text(_ name: String) -> String? {
        if case .text(let value) = controls?[name] { return value }
        return nil
    }

    func isChecked(_ id: String) -> Bool? {
        if case .checked(let value) = controls?[id] { return value }
        return nil
    }
}

/// What one scenario of apply_form.py saw.
struct BrowserScenarioResult: Decodable {
    var snapshots: [String: BrowserSnapshot]
    var error: String?
}

/// Runs scenarios (name → steps) in ONE headless Chromium against `server`'s /apply
/// (starting the browser is the slow part); see Tests/Browser/apply_form.py.
func browse(_ server: TollgateProcess, _ scenarios: [String: [[String: Any]]]) async throws -> [String: BrowserScenarioResult] {
    let directory = temporaryDirectory("browser")
    let plan = directory + "/plan.json", result = directory + "/result.json"
    let json = try JSONSerialization.data(withJSONObject: ["scenarios": scenarios.mapValues { ["url": server.url + "/apply", "steps": $0] }])
    try json.write(to: URL(fileURLWithPath: plan))
    let script = repositoryRoot.appendingPathComponent("Tests/Browser/apply_form.py").path
    let ran = try await run("/usr/bin/env", ["python3", script, plan, result])
    try #require(ran.status == 0, "apply_form.py failed (scripts/setup installs chromium, chromium-driver and selenium): \(ran.output)")
    return try JSONDecoder().decode([String: BrowserScenarioResult].self, from: Data(contentsOf: URL(fileURLWithPath: result)))
}

/// The three scenarios of the browser suite, run once in one Chromium and shared by its tests.
enum BrowserScenarios {
    static let tag = randomTag()
    static let submitOrganisation = "Browser Org \(tag)"
    static let invalidOrganisation = "<script>alert('xss')</script> \"Quoted\" & <b>Org</b> \(tag)"
    static let injectionOrganisation = "*)(objectClass=*))(|(o=* ; DROP TABLE x;-- \\2a <img src=x onerror=alert(1)> Zürich 東京 \(tag)"
    static let injectionConverter = "gw,cn=admin+uid=root\\ \"#\(tag)"

    static var steps: [String: [[String: Any]]] {
        [
            "submit": [
                ["type": ["organisation": submitOrganisation, "mail": "noc@browser.example",
                          "converters[0].name": "gw-berlin-\(tag)", "converters[0].address": "198.51.100.20",
                          "converters[0].model": "strongswan", "converters[0].firmware": "5.9.14",
                          "converters[0].ikeProposals": "aes256-sha256-modp2048, aes128gcm16-prfsha256-ecp256"]],
                ["select": ["billingMethod": "direct-debit"]],
                ["click": "add-converter"],
                ["snapshot": "added"],
                ["type": ["converters[2].name": "gw-paris-\(tag)", "converters[2].address": "2001:db8:99::1",
                          "converters[2].model": "libreswan", "converters[2].firmware": "4.12",
                          "converters[2].ikeProposals": "aes256gcm16-prfsha384-ecp384"]],
                ["check": ["converters[2].ikeVersions-1": true]],
                ["type": ["destinations[0].network": "10.80.0.0/16", "destinations[0].ports": "443, 8000-8100",
                          "destinations[2].network": "2001:db8:80::/48"]],
                ["select": ["destinations[2].protocol": "any"]],
                ["click": "submit"],
                ["snapshot": "done"],
            ],
            "invalid": [
                ["type": ["organisation": invalidOrganisation, "mail": "not-a-mail",
                          "destinations[0].network": "10.0.0.0/33", "destinations[0].ports": "443",
                          "destinations[1].network": "10.1.0.0/16", "destinations[1].ports": "22"]],
                ["select": ["destinations[1].protocol": "icmp"]],
                ["click": "submit"],
                ["snapshot": "errors"],
            ],
            "injection": [
                ["type": ["organisation": injectionOrganisation, "mail": "noc+inj@browser.example",
                          "converters[0].name": injectionConverter, "converters[0].address": "198.51.100.21",
                          "converters[0].model": "StrongSwan", "converters[0].firmware": "5.9.14",
                          "converters[0].ikeProposals": "aes256-sha256-modp2048",
                          "destinations[0].network": "10.81.0.0/16"]],
                ["select": ["destinations[0].protocol": "udp"]],
                ["click": "submit"],
                ["snapshot": "done"],
            ],
        ]
    }

    private static let shared = Mutex<Task<[String: BrowserScenarioResult], any Error>?>(nil)

    /// The snapshots of scenario `name` (the browser runs once, for all three).
    static func snapshots(_ name: String) async throws -> [String: BrowserSnapshot] {
        let task = shared.withLock { current in
            if let current { return current }
            let task = Task { try await browse(try await SharedTollgate.get(), steps) }
            current = task
            return task
        }
        let result = try #require(try await task.value[name])
        if let error = result.error {
            Issue.record("in Chromium (\(name)): \(error) (page: \(result.snapshots["at-error"]?.source?.prefix(2000) ?? "-"))")
        }
        return result.snapshots
    }
}

/// The `/apply` form as a person uses it: headless Chromium (Selenium) against `tollgate serve`.
@Suite("Application form in headless Chromium")
struct ApplicationFormBrowserTests {
    func applications(_ server: TollgateProcess) -> ApplicationService {
        ApplicationService(store: DirectoryStore(client: server.store))
    }

    @Test("a form filled in Chromium files a pending tgApplication with the typed values")
    func submitInBrowser() async throws {
        let server = try await SharedTollgate.get()
        let organisation = BrowserScenarios.submitOrganisation, tag = BrowserScenarios.tag
        let snapshots = try await BrowserScenarios.snapshots("submit")
        // "Add a converter row" re-rendered the form with a third row and everything kept.
        let added = try #require(snapshots["added"])
        #expect(added.text("organisation") == organisation)
        #expect(added.text("converters[0].ikeProposals") == "aes256-sha256-modp2048, aes128gcm16-prfsha256-ecp256")
        #expect(added.text("billingMethod") == "direct-debit")
        #expect(added.text("converters[2].name") == "")
        #expect(added.isChecked("converters[2].ikeVersions-2") == true)

        let done = try #require(snapshots["done"])
        #expect(done.alert == false)
        let id = try #require(done.ids?["application-id"], "no acknowledgement: \(done.errors ?? [:]) \(done.title ?? "")")
        let token = try #require(done.ids?["status-token"])
        #expect(done.ids?["application-state"] == "pending")
        #expect(done.ids?["status-url"] == "\(server.url)/v1/applications/\(id)")

        let stored = try #require(try await applications(server).application(id: id))
        #expect(stored.state == "pending")
        #expect(stored.name == organisation)
        #expect(stored.mail == "noc@browser.example")
        #expect(stored.billingMethod == "direct-debit")
        #expect(stored.converters == [
            .init(name: "gw-berlin-\(tag)", address: "198.51.100.20", model: "strongswan", firmware: "5.9.14", ikeVersions: [2],
                  ikeProposals: ["aes256-sha256-modp2048", "aes128gcm16-prfsha256-ecp256"]),
            .init(name: "gw-paris-\(tag)", address: "2001:db8:99::1", model: "libreswan", firmware: "4.12", ikeVersions: [1, 2],
                  ikeProposals: ["aes256gcm16-prfsha384-ecp384"]),
        ])
        #expect(stored.destinations == [.init(network: "10.80.0.0/16", protocol: "tcp", ports: ["443", "8000-8100"]),
                                        .init(network: "2001:db8:80::/48", protocol: "any", ports: [])])
        #expect(Secrets.verifyToken(token, against: try #require(stored.statusTokenHash)))
        let (status, body) = try await httpRequest(server, "/v1/applications/\(id)", headers: ["Authorization: Bearer \(token)"])
        #expect(status == 200)
        #expect(try jsonObject(body)["state"] as? String == "pending")
    }

    @Test("invalid input: every error inline next to its field, every typed value kept and escaped")
    func invalidInBrowser() async throws {
        let server = try await SharedTollgate.get()
        let organisation = BrowserScenarios.invalidOrganisation
        let snapshots = try await BrowserScenarios.snapshots("invalid")
        let page = try #require(snapshots["errors"])
        #expect(page.alert == false, "a script typed into the form ran")
        #expect(page.scripts == 0, "a <script> element made it into the page")
        #expect(page.ids?["error-summary"]?.contains("Please correct the 4 fields") == true, "\(page.ids ?? [:])")
        let errors = page.errors ?? [:]
        #expect(errors["error-mail"]?.contains("is not a mail address") == true, "\(errors)")
        #expect(errors["error-converters"]?.contains("at least one converter") == true, "\(errors)")
        #expect(errors["error-destinations[0].network"]?.isEmpty == false, "\(errors)")
        #expect(errors["error-destinations[1].ports"]?.contains("tcp and udp only") == true, "\(errors)")
        #expect(errors["error-organisation"] == nil)
        #expect(errors.count == 4, "\(errors)")
        // Everything typed is back, character for character.
        #expect(page.text("organisation") == organisation)
        #expect(page.text("mail") == "not-a-mail")
        #expect(page.text("destinations[0].network") == "10.0.0.0/33")
        #expect(page.text("destinations[0].ports") == "443")
        #expect(page.text("destinations[1].network") == "10.1.0.0/16")
        #expect(page.text("destinations[1].protocol") == "icmp")
        #expect(page.text("destinations[1].ports") == "22")
        #expect(try await applications(server).applications().allSatisfy { $0.name != organisation }, "an invalid form was stored")
    }

    @Test("injection strings typed into the form are stored literally")
    func injectionInBrowser() async throws {
        let server = try await SharedTollgate.get()
        let organisation = BrowserScenarios.injectionOrganisation, converter = BrowserScenarios.injectionConverter
        let model = "StrongSwan"
        let snapshots = try await BrowserScenarios.snapshots("injection")
        let done = try #require(snapshots["done"])
        #expect(done.alert == false)
        #expect(done.scripts == 0)
        let id = try #require(done.ids?["application-id"], "not accepted: \(done.errors ?? [:])")
        let service = applications(server)
        let stored = try #require(try await service.application(id: id))
        #expect(stored.name == organisation)
        #expect(stored.mail == "noc+inj@browser.example")
        #expect(stored.converters.map(\.name) == [converter])
        #expect(stored.converters.map(\.model) == [model])
        // An equality search with the literal value finds exactly this entry (escaped filter).
        let found = try await service.store.client.search(base: service.store.layout.applications, scope: .oneLevel,
                                                          filter: .equal("o", organisation))
        #expect(found.map { $0["tgApplicationId"] } == [id])
        // Approved, the strings become DN values and stay literal.
        let approval = try await service.approve(id: id)
        #expect(try await service.store.subscriber(approval.orgNumber)?.name == organisation)
        #expect(try await service.store.converters(orgNumber: approval.orgNumber).map(\.name) == [converter])
    }
}
