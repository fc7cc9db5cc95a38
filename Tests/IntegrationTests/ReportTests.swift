import Directory
import Foundation
import LDAPClient
import Reports
import Synchronization
import TestSupport
import Testing

/// What Tests/Browser/report_page.py saw on one page.
struct ReportPageView: Decodable {
    struct Chart: Decodable { var width: Int; var height: Int; var colored: Int }
    var title: String?
    var text: String?
    var ids: [String: String]?
    var scripts: Int?
    var charts: [String: Chart]
    var error: String?
}

/// Opens `pages` (name → URL) in one headless Chromium; see Tests/Browser/report_page.py.
func viewReports(_ pages: [String: String]) async throws -> [String: ReportPageView] {
    let directory = temporaryDirectory("report-browser")
    let plan = directory + "/plan.json", result = directory + "/result.json"
    try JSONSerialization.data(withJSONObject: ["pages": pages, "screenshots": directory + "/shots"]).write(to: URL(fileURLWithPath: plan))
    let script = repositoryRoot.appendingPathComponent("Tests/Browser/report_page.py").path
    let ran = try await run("/usr/bin/env", ["python3", script, plan, result])
    try #require(ran.status == 0, "report_page.py failed (scripts/setup installs chromium, chromium-driver and selenium): \(ran.output)")
    return try JSONDecoder().decode([String: ReportPageView].self, from: Data(contentsOf: URL(fileURLWithPath: result)))
}

/// `tollgate serve` with a real aiosmtpd, the report scheduler (daily, checking every
/// second), the metrics listener, and a day of samples and health events for tenants
/// 1001 and 1002 written straight into its slapd.
final class ReportFixture: Sendable {
    let server: TollgateProcess
    let smtp: SMTPTestServer
    let metricsPort: Int
    /// The day of the samples (a Monday long past, so the scheduler's "yesterday" differs).
    static let day = ReportPeriod.parseDay("2026-11-02")!

    // Expected figures of tenant 1001.
    enum convA {
        static let count = 288
        static func bytesIn(_ i: Int) -> Int64 { Int64(10_000 + i) }
        static let bytesOut: Int64 = 5_000
    }
    static let convBBytes: Int64 = 1_234_567
    static var bytesIn1001: Int64 { (0..<convA.count).reduce(Int64(0)) { $0 + convA.bytesIn($1) } + 12 * convBBytes }
    static var bytesOut1001: Int64 { Int64(convA.count) * convA.bytesOut }
    static let denied1001 = 12 * 3
    static let bytes1002: Int64 = 987_654_321

    private static let shared = Mutex<Task<ReportFixture, any Error>?>(nil)

    static func get() async throws -> ReportFixture {
        let task = shared.withLock { current in
            if let current { return current }
            let task = Task { try await ReportFixture.start() }
            current = task
            return task
        }
        return try await task.value
    }

    private init(server: TollgateProcess, smtp: SMTPTestServer, metricsPort: Int) {
        self.server = server
        self.smtp = smtp
        self.metricsPort = metricsPort
    }

    static func start() async throws -> ReportFixture {
        let smtpPort = freePort(), metricsPort = freePort()
        let smtp = try await SMTPTestServer(port: smtpPort, directory: temporaryDirectory("report-smtp"))
        let server = try await SharedTollgate.start([
            "--demo", "--smtp-host", "127.0.0.1", "--smtp-port", String(smtpPort), "--smtp-starttls", "off",
            "--mail-from", "reports@tollgate.example", "--mail-poll-interval", "0.2", "--mail-retry-initial", "0.3",
            "--report-periods", "day", "--report-check-seconds", "1", "--report-settle-seconds", "0",
            "--metrics-listen", "127.0.0.1:\(metricsPort)"])
        let store = DirectoryStore(client: server.store)
        var samples: [TrafficSample] = []
        for i in 0..<convA.count {
            samples.append(TrafficSample(orgNumber: "1001", converter: "conv-a", start: day.addingTimeInterval(Double(i * 300)), interval: 300,
                                         totals: .init(bytesIn: convA.bytesIn(i), bytesOut: convA.bytesOut, packetsIn: 10, packetsOut: 5),
                                         breakdown: .init(destinations: ["10.20.0.0/16": .init(bytesIn: convA.bytesIn(i), bytesOut: convA.bytesOut)])))
        }
        for i in 0..<12 {
            samples.append(TrafficSample(orgNumber: "1001", converter: "conv-b", start: day.addingTimeInterval(Double(36_000 + i * 300)), interval: 300,
                                         totals: .init(bytesIn: convBBytes, packetsIn: 100), deniedAttempts: 3,
                                         breakdown: .init(destinations: ["<fileserver & \"co\">": .init(bytesIn: convBBytes)], denied: ["10.66.6.6": 3])))
        }
        samples.append(TrafficSample(orgNumber: "1002", converter: "conv-c", start: day.addingTimeInterval(3600), interval: 3600,
                                     totals: .init(bytesIn: bytes1002, packetsIn: 1), deniedAttempts: 4,
                                     breakdown: .init(destinations: ["172.16.0.0/12": .init(bytesIn: bytes1002)], denied: ["172.31.9.9": 4])))
        for sample in samples {
            try await store.client.add(store.layout.trafficSample(sample.orgNumber, sample.rdnValue), attributes: sample.entryAttributes)
        }
        // conv-b of 1001: down 06:00–12:00 (availability 75 %); it was up before (an event the day before).
        func health(_ converter: String, _ org: String, _ time: Date, _ from: String, _ to: String) -> HistoryEvent {
            HistoryEvent(type: "converter.\(to)", orgNumber: org, converter: converter, actor: "monitor",
                         data: "{\"from\":\"\(from)\",\"to\":\"\(to)\",\"reason\":\"test\"}", time: time)
        }
        try await store.record(health("conv-b", "1001", day.addingTimeInterval(-3600), "down", "up"))
        try await store.record(health("conv-b", "1001", day.addingTimeInterval(6 * 3600), "up", "down"))
        try await store.record(health("conv-b", "1001", day.addingTimeInterval(12 * 3600), "down", "up"))
        // conv-c of 1002: down 18:00 until after the day (availability 75 %).
        try await store.record(health("conv-c", "1002", day.addingTimeInterval(18 * 3600), "up", "down"))
        return ReportFixture(server: server, smtp: smtp, metricsPort: metricsPort)
    }

    /// Runs `tollgate admin report run` and returns the printed link.
    func runReport(org: String, extra: [String] = []) async throws -> String {
        let output = try await server.admin(["report", "run", "--org", org, "--period", "day", "--start", "2026-11-02"] + extra)
        try #require(output.status == 0, "report run failed: \(output.output)")
        let link = try #require(output.output.split(separator: "\n").map(String.init).first { $0.hasPrefix("https://") },
                                "no link printed: \(output.output)")
        return link
    }

    /// The HTTP status of `url` (curl, the server's CA).
    func status(_ url: String) async throws -> Int {
        let result = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "20", "--cacert", server.rootCA, url])
        return Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}

@Suite("Reports: CLI, signed links, page in Chromium, mail, scheduler", .serialized)
struct ReportTests {
    @Test("the CLI prints a link; Chromium shows 1001's numbers and non-empty charts; 1002's link shows only 1002")
    func pageInChromium() async throws {
        let fixture = try await ReportFixture.get()
        let link1001 = try await fixture.runReport(org: "1001", extra: ["--no-mail"])
        let link1002 = try await fixture.runReport(org: "1002", extra: ["--no-mail"])
        #expect(link1001.hasPrefix(fixture.server.url + "/reports/1001/day/20261102?exp="))
        #expect(try await fixture.status(link1001) == 200)
        let headers = try await run("/usr/bin/curl", ["-s", "-D", "-", "-o", "/dev/null", "--cacert", fixture.server.rootCA, link1001]).output.lowercased()
        #expect(headers.contains("cache-control: private"))

        let views = try await viewReports(["r1001": link1001, "r1002": link1002])
        let page = try #require(views["r1001"])
        #expect(page.error == nil)
        #expect(page.scripts == 0)
        let ids = page.ids ?? [:]
        #expect(ids["org-number"] == "1001")
        #expect(ids["total-bytes-in"] == ReportPage.grouped(ReportFixture.bytesIn1001))
        #expect(ids["total-bytes-out"] == ReportPage.grouped(ReportFixture.bytesOut1001))
        #expect(ids["total-denied"] == ReportPage.grouped(Int64(ReportFixture.denied1001)))
        #expect(ids["denied-total"] == ReportPage.grouped(Int64(ReportFixture.denied1001)))
        // conv-a (row 0) always up, conv-b (row 1) down 6 of 24 hours.
        #expect(ids["conv-0-availability"] == "100.00 %")
        #expect(ids["conv-1-availability"] == "75.00 %")
        #expect(ids["total-availability"] == "87.50 %")
        let text = page.text ?? ""
        #expect(text.contains("Example Networks (demo)"))
        #expect(text.contains("<fileserver & \"co\">"))  // escaped in HTML, shown literally
        #expect(text.contains("10.66.6.6"))
        for chart in ["chart-traffic", "chart-availability", "chart-destinations", "chart-denied"] {
            let seen = try #require(page.charts[chart], "no \(chart) on the page")
            #expect(seen.colored > 200, "\(chart) looks empty: \(seen)")
        }

        let other = try #require(views["r1002"])
        #expect(other.error == nil)
        let otherText = other.text ?? ""
        #expect(other.ids?["org-number"] == "1002")
        #expect(other.ids?["total-bytes-in"] == ReportPage.grouped(ReportFixture.bytes1002))
        #expect(other.ids?["total-availability"] == "75.00 %")
        for leaked in ["conv-a", "conv-b", "Example Networks", "fileserver", "10.66.6.6", ReportPage.grouped(ReportFixture.bytesIn1001)] {
            #expect(!otherText.contains(leaked), "1002's report shows \(leaked)")
        }
    }

    @Test("tampered links answer 403, expired ones 410 with a clear page, malformed ones 400")
    func tamperedAndExpired() async throws {
        let fixture = try await ReportFixture.get()
        let link = try await fixture.runReport(org: "1001", extra: ["--no-mail"])
        let sig = try #require(link.split(separator: "sig=").last.map(String.init))
        let flipped = String(sig.dropLast()) + (sig.hasSuffix("0") ? "1" : "0")
        #expect(try await fixture.status(link.replacingOccurrences(of: "sig=" + sig, with: "sig=" + flipped)) == 403)
        let exp = try #require(link.split(separator: "exp=").last?.split(separator: "&").first.map(String.init))
        #expect(try await fixture.status(link.replacingOccurrences(of: "exp=" + exp, with: "exp=\((Int64(exp) ?? 0) + 86_400)")) == 403)
        let swapped = link.replacingOccurrences(of: "/reports/1001/", with: "/reports/1002/")
        #expect(try await fixture.status(swapped) == 403)
        #expect(try await fixture.status(link.replacingOccurrences(of: "/day/", with: "/week/")) == 403)
        #expect(try await fixture.status(link.components(separatedBy: "&sig=")[0]) == 403)

        // A correctly signed link past its expiry (signed with the server's key).
        let key = try ReportLink.loadOrCreateKey(dataDirectory: fixture.server.data)
        let expired = ReportLink(orgNumber: "1001", period: .day, start: ReportFixture.day,
                                 expires: Int64(Date().timeIntervalSince1970) - 60, key: key).url(publicURL: fixture.server.url)
        #expect(try await fixture.status(expired) == 410)
        // Signed, but naming no period start (a Tuesday for a week): 400.
        let notAStart = ReportLink(orgNumber: "1001", period: .week, start: ReportFixture.day.addingTimeInterval(86_400),
                                   expires: Int64(Date().timeIntervalSince1970) + 600, key: key).url(publicURL: fixture.server.url)
        #expect(try await fixture.status(notAStart) == 400)

        let views = try await viewReports(["expired": expired, "swapped": swapped])
        #expect(views["expired"]?.ids?["error-title"] == "Report link expired")
        #expect(views["expired"]?.text?.contains("expired on") == true)
        #expect(views["swapped"]?.ids?["error-title"] == "Invalid report link")
        #expect(views["swapped"]?.text?.contains("1001") == false)
        #expect(views["swapped"]?.ids?["total-bytes-in"] == nil)
    }

    @Test("the CLI's report mail arrives over SMTP with text and HTML parts holding the link; a tgReport entry records it")
    func cliMail() async throws {
        let fixture = try await ReportFixture.get()
        let link = try await fixture.runReport(org: "1001")
        var mail: ReceivedMail?
        let arrived = try await eventually(30) {
            mail = try fixture.smtp.received().first { $0.subject.contains("day report 2026-11-02") && $0.rcpt_tos == ["noc@example.net"] }
            return mail != nil
        }
        #expect(arrived)
        let received = try #require(mail)
        #expect(received.content_type == "multipart/alternative")
        #expect(received.text?.contains(link) == true)
        #expect(received.html?.contains(link.replacingOccurrences(of: "&", with: "&amp;")) == true)
        #expect(received.text?.contains(ReportPage.grouped(ReportFixture.bytesIn1001)) == true)
        #expect(received.from_header == "reports@tollgate.example")

        let store = DirectoryStore(client: fixture.server.store)
        let record = try #require(try await ReportRecord.read(store, orgNumber: "1001", period: .day, start: ReportFixture.day))
        #expect(record.link == link)
        #expect(record.notAfter > Date().addingTimeInterval(29 * 86_400))
    }

    @Test("the scheduler mails yesterday's day report to every active subscriber once, and records it")
    func schedulerMail() async throws {
        let fixture = try await ReportFixture.get()
        let yesterday = ReportPeriod.day.lastComplete(before: Date())
        let label = "day report \(String(ISO8601DateFormatter().string(from: yesterday).prefix(10)))"
        var mails: [ReceivedMail] = []
        let arrived = try await eventually(60) {
            mails = try fixture.smtp.received().filter { $0.subject.contains(label) }
            return Set(mails.flatMap { $0.rcpt_tos ?? [] }).isSuperset(of: ["noc@example.net", "it@other.example"])
        }
        #expect(arrived, "scheduled mails: \(mails.map(\.subject))")
        let store = DirectoryStore(client: fixture.server.store)
        for org in ["1001", "1002"] {
            let record = try await ReportRecord.read(store, orgNumber: org, period: .day, start: yesterday)
            #expect(record != nil)
            #expect(mails.contains { $0.text?.contains(record?.link ?? "-") == true })
        }
        // Several more passes (every second) send nothing again.
        try await Task.sleep(for: .seconds(3))
        let again = try fixture.smtp.received().filter { $0.subject.contains(label) }
        #expect(again.count == mails.count)
    }

    @Test("GET /metrics on the metrics listener shows enrolments, access decisions and LDAP operations")
    func metrics() async throws {
        let fixture = try await ReportFixture.get()
        let server = fixture.server
        let credentials = try await enrolConverter(server, org: "1001", converter: "conv-a", signature: "demo-signature-1001")
        // The replica learns the new certificate within a moment; then the check is decided.
        let decided = try await waitUntil(seconds: 15) {
            try await check(server, as: credentials, "10.20.3.4", "tcp", 443).status == 200
        }
        #expect(decided != nil)
        let metricsURL = "http://127.0.0.1:\(fixture.metricsPort)/metrics"
        let body = try await run("/usr/bin/curl", ["-s", "-m", "10", metricsURL]).output
        func value(_ prefix: String) -> Double? {
            body.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        }
        #expect((value("tollgate_enrolments_total{operation=\"simpleenroll\",result=\"issued\"}") ?? 0) >= 1, "\(body)")
        let decisions = (value("tollgate_access_decisions_total{allow=\"true\"}") ?? 0) + (value("tollgate_access_decisions_total{allow=\"false\"}") ?? 0)
        #expect(decisions >= 1, "\(body)")
        #expect((value("tollgate_ldap_operation_seconds_count") ?? 0) > 0, "\(body)")
        #expect(body.contains("tollgate_ldap_operation_seconds_bucket"))
        // Not on the public HTTPS port.
        #expect(try await fixture.status(server.url + "/metrics") == 404)
    }
}
