import Directory
import Foundation
import Subscription
import TestSupport
import Testing

/// `/apply` at the HTTP level (curl): escaping in the HTML as sent, CSRF defences, limits.
@Suite("Application form over HTTPS")
struct ApplicationFormHTTPTests {
    /// A fresh form token from GET /apply.
    func formToken(_ server: TollgateProcess) async throws -> String {
        let (status, page) = try await httpRequest(server, "/apply")
        try #require(status == 200)
        let marker = "name=\"formToken\" value=\""
        let start = try #require(page.range(of: marker)).upperBound
        return String(page[start...].prefix { $0 != "\"" })
    }

    static func encode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        return fields.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
    }

    func post(_ server: TollgateProcess, _ fields: [(String, String)], headers: [String] = []) async throws -> (Int, String) {
        try await httpRequest(server, "/apply", body: Self.encode(fields), contentType: "application/x-www-form-urlencoded",
                              headers: headers, includeHeaders: true)
    }

    static func valid(_ organisation: String) -> [(String, String)] {
        [("organisation", organisation), ("mail", "noc@form.example"), ("billingMethod", "invoice"),
         ("converterRows", "2"), ("destinationRows", "3"),
         ("converters[0].name", "gw-1"), ("converters[0].address", "192.0.2.33"), ("converters[0].model", "strongswan"),
         ("converters[0].firmware", "5.9.14"), ("converters[0].ikeVersions", "2"), ("converters[0].ikeProposals", "aes256-sha256-modp2048"),
         ("destinations[0].network", "10.90.0.0/16"), ("destinations[0].protocol", "tcp"), ("destinations[0].ports", "443"),
         ("action", "submit")]
    }

    @Test("the GET form: no script, CSP and no-store; inputs named like the API fields")
    func emptyForm() async throws {
        let server = try await SharedTollgate.get()
        let (status, page) = try await httpRequest(server, "/apply", includeHeaders: true)
        #expect(status == 200)
        let lower = page.lowercased()
        #expect(lower.contains("content-type: text/html; charset=utf-8"))
        #expect(lower.contains("cache-control: no-store"))
        #expect(lower.contains("content-security-policy: default-src 'none'"))
        #expect(lower.contains("x-frame-options: deny"))
        #expect(!lower.contains("<script"))
        for name in ["organisation", "mail", "billingMethod", "converters[0].name", "converters[1].firmware", "converters[0].ikeVersions",
                     "destinations[2].network", "destinations[0].protocol", "destinations[0].ports", "formToken"] {
            #expect(page.contains("name=\"\(name)\""), "no input \(name)")
        }
        // Every rendering has its own token (two in the same second differ).
        let tokens = try await [formToken(server), formToken(server), formToken(server)]
        #expect(Set(tokens).count == 3)
    }

    @Test("typed markup comes back escaped in the HTML as sent, values kept")
    func escaping() async throws {
        let server = try await SharedTollgate.get()
        var fields = Self.valid("\"><script>alert(1)</script><b x='")
        fields.append(("formToken", try await formToken(server)))
        fields = fields.map { $0.0 == "mail" ? ($0.0, "<script>@x") : $0 }
        fields = fields.map { $0.0 == "converters[0].firmware" ? ($0.0, "5.9 </p><script>") : $0 }
        let (status, page) = try await post(server, fields)
        #expect(status == 400)
        #expect(!page.contains("<script"), "unescaped markup in the page")
        #expect(page.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b x=&#39;\""))
        #expect(page.contains("value=\"&lt;script&gt;@x\""))
        #expect(page.contains("id=\"error-mail\""))
        #expect(page.contains("id=\"error-converters[0].firmware\""))
        #expect(page.contains("&quot;5.9 &lt;/p&gt;&lt;script&gt;&quot; is not a version like 5.9.8"))
    }

    @Test("CSRF: a foreign Origin or cross-site fetch is refused; a missing, forged or reused token returns the form with the values")
    func csrf() async throws {
        let server = try await SharedTollgate.get()
        let organisation = "CSRF Org \(randomTag())"
        var fields = Self.valid(organisation)
        fields.append(("formToken", try await formToken(server)))
        let (s1, p1) = try await post(server, fields, headers: ["Origin: https://evil.example"])
        #expect(s1 == 403)
        #expect(p1.contains("another origin"))
        let (s2, _) = try await post(server, fields, headers: ["Sec-Fetch-Site: cross-site"])
        #expect(s2 == 403)
        // Without a token, and with a forged one: the form again, values kept, nothing stored.
        let (s3, p3) = try await post(server, Self.valid(organisation))
        #expect(s3 == 403)
        #expect(p3.contains("value=\"\(organisation)\""))
        #expect(p3.contains("could not be verified"))
        let (s4, _) = try await post(server, Self.valid(organisation) + [("formToken", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")])
        #expect(s4 == 403)
        let service = ApplicationService(store: DirectoryStore(client: server.store))
        #expect(try await service.applications().allSatisfy { $0.name != organisation })
        // The same-origin POST with its token works once; the token cannot file a second one.
        let (s5, p5) = try await post(server, fields, headers: ["Origin: \(server.url)", "Sec-Fetch-Site: same-origin"])
        #expect(s5 == 201, "\(p5.prefix(3000))")
        #expect(p5.contains("id=\"status-token\""))
        let (s6, p6) = try await post(server, fields, headers: ["Origin: \(server.url)"])
        #expect(s6 == 403)
        #expect(p6.contains("submitted already"))
        #expect(try await service.applications().filter { $0.name == organisation }.count == 1)
    }

    @Test("add-row buttons re-render with one more row; limits: 413 for a large body, 415 for another encoding")
    func rowsAndLimits() async throws {
        let server = try await SharedTollgate.get()
        var fields = Self.valid("Rows Org")
        fields = fields.map { $0.0 == "action" ? ("action", "add-destination") : $0 }
        let (s1, p1) = try await post(server, fields)
        #expect(s1 == 200)
        #expect(p1.contains("name=\"destinations[3].network\""))
        #expect(!p1.contains("name=\"destinations[4].network\""))
        #expect(p1.contains("name=\"destinationRows\" value=\"4\""))
        #expect(p1.contains("value=\"10.90.0.0/16\""))
        #expect(!p1.contains("class=\"error\""), "adding a row validates nothing")
        let big = Self.valid(String(repeating: "x", count: 70_000)) + [("formToken", try await formToken(server))]
        let (s2, p2) = try await post(server, big)
        #expect(s2 == 413)
        #expect(p2.contains("too large"))
        let (s3, _) = try await httpRequest(server, "/apply", body: "{}", contentType: "application/json")
        #expect(s3 == 415)
        let (s4, _) = try await httpRequest(server, "/apply", body: "organisation=%zz", contentType: "application/x-www-form-urlencoded")
        #expect(s4 == 400)
    }
}

/// The form's parsing and the shared validation, without a server.
@Suite("Application form parsing")
struct ApplicationFormParsingTests {
    @Test("blank rows are skipped and errors map back to the rows they came from")
    func rowMapping() {
        let fields: [(String, String)] = [
            ("organisation", " Org "), ("mail", "noc@example.net"), ("billingMethod", "card"),
            ("converterRows", "3"), ("destinationRows", "2"),
            ("converters[1].name", "gw-a"), ("converters[1].address", "192.0.2.1"), ("converters[1].model", "strongswan"),
            ("converters[1].firmware", "5.9 beta"), ("converters[1].ikeVersions", "1"), ("converters[1].ikeVersions", "2"),
            ("converters[2].ikeVersions", "2"),
            ("destinations[1].network", "10.0.0.0/8"), ("destinations[1].protocol", "tcp"), ("destinations[1].ports", "443 8000-8100,22"),
        ]
        let form = ApplicationForm(fields: fields, maximumConverters: 16, maximumDestinations: 64)
        #expect(form.converters.count == 3 && form.destinations.count == 2)
        #expect(form.organisation == " Org ")
        let (request, formProblems, mapping) = form.request()
        #expect(formProblems.isEmpty)
        #expect(request.organisation == "Org")
        #expect(request.converters.map(\.name) == ["gw-a"])
        #expect(request.converters.first?.ikeVersions == [1, 2])
        #expect(request.destinations.first?.ports == ["443", "8000-8100", "22"])
        let problems = request.problems().map { mapping.formField($0.field) }
        #expect(problems == ["converters[1].firmware"])
    }

    @Test("problems() names every bad field, with the same messages as the API's first error")
    func allProblems() throws {
        let json = """
        {"organisation": "", "mail": "x", "billingMethod": "cash",
         "converters": [{"name": "a", "address": "300.1.1.1", "model": "m", "firmware": "1", "ikeVersions": [3], "ikeProposals": ["bad proposal"]},
                        {"name": "A", "address": "192.0.2.1", "model": "m", "firmware": "1", "ikeVersions": [2], "ikeProposals": []}],
         "destinations": [{"network": "10.0.0.0/99", "protocol": "gre", "ports": ["0"]}]}
        """
        let request = try ApplicationRequest.decode(Data(json.utf8))
        let problems = request.problems()
        #expect(problems.map(\.field) == ["organisation", "mail", "billingMethod", "converters[0].address", "converters[0].ikeVersions",
                                          "converters[0].ikeProposals", "converters[1].name", "destinations[0].network",
                                          "destinations[0].ports", "destinations[0].protocol"])
        do {
            _ = try request.application(id: "app-1", tokenHash: "")
            Issue.record("accepted")
        } catch {
            #expect(error.field == problems.first?.field)
            #expect(error.description == problems.first?.description)
        }
    }

    @Test("form encoding: plus, percent-escapes, UTF-8, repeated names; malformed escapes refused")
    func encoding() {
        let pairs = FormEncoding.decode("a=1+2&b=%C3%BC%26%3D&a=3&empty=&flag")
        #expect(pairs?.map { "\($0.0)=\($0.1)" } == ["a=1 2", "b=ü&=", "a=3", "empty=", "flag="])
        #expect(FormEncoding.decode("a=%zz") == nil)
        #expect(FormEncoding.decode("a=%FF") == nil)
    }
}
