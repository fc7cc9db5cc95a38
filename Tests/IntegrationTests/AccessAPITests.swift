import Directory
import Foundation
import LDAPClient
import TestSupport
import Testing

/// The converter access API over mTLS against a real `tollgate serve` and slapd.
@Suite("Access API over mTLS", .serialized)
struct AccessAPITests {
    static let tenant1001 = "tgorgnumber=1001,ou=subscribers,dc=tollgate"

    @Test("allowed/denied matrix: IPv4 and IPv6, ports and ranges, overlapping prefixes, deny at equal length, validity")
    func matrix() async throws {
        let (server, convA, _) = try await SharedAccessServer.get()
        // (destination, protocol, port, allowed, deciding rule's cn or nil, words in the reason)
        let cases: [(String, String?, Int?, Bool, String?, String)] = [
            ("10.20.3.4", "tcp", 443, true, "intranet-https", "allowed by 10.20.0.0/16 tcp/443"),
            ("10.20.3.4", "tcp", 80, false, nil, "no destination matches"),
            ("10.20.3.4", "udp", 443, false, nil, "no destination matches"),
            ("10.20.3.4", nil, nil, false, nil, "no destination matches"),            // any: the tcp/443 rule does not cover all traffic
            ("10.30.1.5", "udp", 53, true, "fileserver", "10.30.1.5/32 any"),
            ("10.30.1.5", "icmp", nil, true, "fileserver", "allowed"),
            ("10.30.1.6", "icmp", nil, false, nil, "no destination matches"),
            ("2001:db8:1::5", "udp", 4500, true, "lab-v6", "allowed by 2001:db8:1::/48 udp/500,4500,8000-8100"),
            ("2001:0db8:0001:0000::0005", "udp", 8000, true, "lab-v6", "allowed"),
            ("2001:db8:1::5", "udp", 8100, true, "lab-v6", "allowed"),
            ("2001:db8:1::5", "udp", 8101, false, nil, "no destination matches"),
            ("2001:db8:1::5", "tcp", 500, false, nil, "no destination matches"),
            ("10.50.0.9", "tcp", 22, false, nil, "expired"),                           // old-dmz ended in 2025
            ("10.61.1.1", "tcp", 22, false, nil, "not valid yet"),                     // future starts in 2099
            ("10.60.9.9", "tcp", 22, true, "ovl-16-any", "allowed by 10.60.0.0/16 any"),
            ("10.60.5.7", "tcp", 80, true, "ovl-24-tcp", "allowed by 10.60.5.0/24 tcp"),  // longest prefix wins
            ("10.60.5.7", "tcp", 22, false, "ovl-24-deny-ssh", "denied by 10.60.5.0/24 tcp/22"),  // deny beats allow at /24
            ("10.60.5.8", "tcp", 22, true, "ovl-32-ssh", "allowed by 10.60.5.8/32 tcp/22"),  // /32 beats the /24 deny
            ("10.60.5.7", "udp", 53, true, "ovl-16-any", "allowed"),                   // the /24 rules are tcp only
            ("10.60.5.7", nil, nil, false, "ovl-24-deny-ssh", "denied"),               // any traffic touches the deny
            ("2001:db8:2:7::1", "tcp", 443, true, "v6-48", "allowed by 2001:db8:2::/48 any"),
            ("2001:db8:2:1::1", "tcp", 443, false, "v6-64-deny", "denied by 2001:db8:2:1::/64 any"),
            ("10.40.1.1", "tcp", 22, false, nil, "no destination matches"),            // tenant 1002's network
            ("::ffff:10.20.3.4", "tcp", 443, true, "intranet-https", "allowed"),      // IPv4-mapped form is IPv4
        ]
        for (destination, proto, port, allowed, rule, words) in cases {
            let answer = try await check(server, as: convA, destination, proto, port)
            let label = "\(destination) \(proto ?? "any")/\(port.map(String.init) ?? "-")"
            #expect(answer.status == 200, "\(label): \(answer.body)")
            #expect(answer.bool("allow") == allowed, "\(label): \(answer.body)")
            if let rule {
                #expect(answer.string("rule")?.lowercased() == "cn=\(rule),ou=destinations,\(Self.tenant1001)", "\(label): \(answer.body)")
            } else {
                #expect(answer.object["rule"] is NSNull, "\(label): \(answer.body)")
            }
            #expect(answer.string("reason")?.contains(words) == true, "\(label): \(answer.body)")
            #expect(answer.bool("stale") == false)
            #expect(answer.string("org") == "1001" && answer.string("converter") == "conv-a")
            #expect(answer.int("ttl") == 60, "\(label): \(answer.body)")
            #expect(!(answer.string("policyVersion") ?? "").isEmpty)
        }
        // The canonical address is echoed.
        let mapped = try await check(server, as: convA, "2001:0db8:0001:0000::0005", "udp", 8000)
        #expect(mapped.strings("addresses") == ["2001:db8:1::5"])
    }

    @Test("the batch form answers in order; DNS names are resolved (every address must be allowed)")
    func batchAndNames() async throws {
        let (server, convA, _) = try await SharedAccessServer.get()
        let body = """
        {"checks":[{"destination":"10.20.3.4","protocol":"tcp","port":443},
                   {"destination":"10.20.3.4","protocol":"tcp","port":22},
                   {"destination":"localhost","protocol":"tcp","port":443},
                   {"destination":"no-such-host.invalid","protocol":"tcp","port":443}]}
        """
        let answer = try await callAPI(server, "/v1/access/batch", method: "POST", as: convA, body: body)
        #expect(answer.status == 200, "\(answer.body)")
        let results = answer.objects("results")
        try #require(results.count == 4, "\(answer.body)")
        #expect(results[0]["allow"] as? Bool == true)
        #expect(results[1]["allow"] as? Bool == false)
        #expect(results[2]["allow"] as? Bool == false, "nothing allows 127.0.0.0/8")
        #expect((results[2]["addresses"] as? [String])?.contains("127.0.0.1") == true, "\(results[2])")
        #expect(results[3]["allow"] as? Bool == false)
        #expect((results[3]["reason"] as? String)?.contains("does not resolve") == true, "\(results[3])")
        #expect(results[3]["ttl"] as? Int == 0, "an unresolvable name is not cached")
        let empty = try await callAPI(server, "/v1/access/batch", method: "POST", as: convA, body: "{\"checks\":[]}")
        #expect(empty.status == 200 && empty.objects("results").isEmpty, "\(empty.body)")
    }

    @Test("tenant isolation: a 1002 certificate sees only 1002's policy and never matches 1001's entries")
    func isolation() async throws {
        let (server, convA, convC) = try await SharedAccessServer.get()
        let policyC = try await callAPI(server, "/v1/policy", as: convC)
        #expect(policyC.status == 200, "\(policyC.body)")
        #expect(policyC.string("org") == "1002" && policyC.string("converter") == "conv-c")
        let destinations = policyC.objects("destinations")
        #expect(destinations.count == 1, "\(policyC.body)")
        #expect(destinations.allSatisfy { ($0["dn"] as? String)?.lowercased().hasSuffix("tgorgnumber=1002,ou=subscribers,dc=tollgate") == true })
        #expect(destinations.first?["network"] as? String == "10.40.0.0/16")
        #expect(!policyC.body.contains("1001") && !policyC.body.contains("10.20.0.0"), "\(policyC.body)")
        // 1001's networks are nothing to conv-c, whatever the body claims about the tenant.
        let probe = try await check(server, as: convC, "10.20.3.4", "tcp", 443, extra: "\"org\":\"1001\",\"converter\":\"conv-a\"")
        #expect(probe.status == 200 && probe.bool("allow") == false, "\(probe.body)")
        #expect(probe.object["rule"] is NSNull)
        #expect(probe.string("org") == "1002")
        #expect(!probe.body.contains("1001"), "\(probe.body)")
        let own = try await check(server, as: convC, "10.40.1.1", "tcp", 22)
        #expect(own.bool("allow") == true && own.string("rule")?.lowercased().contains("tgorgnumber=1002") == true, "\(own.body)")
        // And the other way round.
        let policyA = try await callAPI(server, "/v1/policy", as: convA)
        #expect(policyA.string("org") == "1001")
        #expect(!policyA.body.contains("10.40.0.0") && !policyA.body.lowercased().contains("tgorgnumber=1002"))
        #expect(policyA.objects("destinations").count >= 4 + SharedAccessServer.extraDestinationCount)
        #expect(try await check(server, as: convA, "10.40.1.1", "tcp", 22).bool("allow") == false)
    }

    @Test("no, unknown, superseded or revoked certificates are refused")
    func certificates() async throws {
        let (server, convA, _) = try await SharedAccessServer.get()
        let none = try await check(server, as: nil, "10.20.3.4", "tcp", 443)
        #expect(none.status == 401 && none.string("error") == "unauthorized", "\(none.body)")
        #expect(try await callAPI(server, "/v1/policy", as: nil).status == 401)
        // A certificate of another CA does not get through the TLS handshake.
        let dir = temporaryDirectory("foreign")
        let selfSigned = try await run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                            "-keyout", "\(dir)/k.pem", "-out", "\(dir)/c.pem", "-days", "1", "-subj", "/CN=conv-a/OU=1001"])
        #expect(selfSigned.status == 0, "\(selfSigned.output)")
        let foreign = ConverterCredentials(org: "1001", name: "conv-a", certificate: "\(dir)/c.pem", key: "\(dir)/k.pem", serial: "")
        let refused = try await check(server, as: foreign, "10.20.3.4", "tcp", 443)
        #expect(refused.status == 0 || refused.status == 401, "handshake failure (or 401), got \(refused.status) \(refused.body)")
        #expect(refused.bool("allow") != true)
        // conv-b: enrol, use, re-enrol (the old certificate is superseded), revoke.
        let first = try await enrolConverter(server, org: "1001", converter: "conv-b", signature: "demo-signature-1001")
        let working = try await waitUntil(seconds: 5) { try await check(server, as: first, "10.20.3.4", "tcp", 443).status == 200 }
        #expect(working != nil)
        let second = try await enrolConverter(server, org: "1001", converter: "conv-b", signature: "demo-signature-1001")
        let superseded = try await waitUntil(seconds: 5) { try await check(server, as: first, "10.20.3.4", "tcp", 443).status == 401 }
        #expect(superseded != nil, "the superseded certificate is refused")
        let old = try await check(server, as: first, "10.20.3.4", "tcp", 443)
        #expect(old.string("message")?.contains("not the current certificate") == true, "\(old.body)")
        #expect(try await check(server, as: second, "10.20.3.4", "tcp", 443).bool("allow") == true)
        let revoke = try await server.admin(["certificate", "revoke", "--serial", second.serial, "--reason", "keyCompromise"])
        #expect(revoke.status == 0, "\(revoke.output)")
        let revoked = try await waitUntil(seconds: 5) { try await check(server, as: second, "10.20.3.4", "tcp", 443).status == 401 }
        #expect(revoked != nil, "the revoked certificate is refused")
        let answer = try await check(server, as: second, "10.20.3.4", "tcp", 443)
        #expect(answer.string("message")?.contains("revoked") == true, "\(answer.body)")
        #expect(answer.object["allow"] == nil, "401 carries no decision")
        #expect(try await callAPI(server, "/v1/policy", as: second).status == 401)
        // conv-a is unaffected.
        #expect(try await check(server, as: convA, "10.20.3.4", "tcp", 443).bool("allow") == true)
    }

    @Test("a suspended subscriber's converters are refused (403) until it is active again; other tenants unaffected")
    func suspendedTenant() async throws {
        let (server, convA, convC) = try await SharedAccessServer.get()
        let dir = temporaryDirectory("suspend")
        func setState(_ state: String) async throws {
            try "dn: tgOrgNumber=1002,ou=subscribers,dc=tollgate\nchangetype: modify\nreplace: tgState\ntgState: \(state)\n\n"
                .write(toFile: "\(dir)/\(state).ldif", atomically: true, encoding: .utf8)
            let result = try await run("/usr/bin/ldapmodify", ["-Q", "-Y", "EXTERNAL", "-H", server.slapd.ldapiURL, "-f", "\(dir)/\(state).ldif"])
            try #require(result.status == 0, "\(result.output)")
        }
        #expect(try await check(server, as: convC, "10.40.1.1", "tcp", 22).bool("allow") == true)
        try await setState("suspended")
        let refused = try await waitUntil(seconds: 5) { try await check(server, as: convC, "10.40.1.1", "tcp", 22).status == 403 }
        let answer = try await check(server, as: convC, "10.40.1.1", "tcp", 22)
        // Restore before asserting further, so a failure does not leave 1002 suspended for the other tests.
        try await setState("active")
        #expect(refused != nil, "the suspension never reached the access service")
        #expect(answer.string("error") == "forbidden" && answer.string("message")?.contains("suspended") == true, "\(answer.body)")
        #expect(answer.object["allow"] == nil, "403 carries no decision")
        #expect(try await check(server, as: convA, "10.20.3.4", "tcp", 443).bool("allow") == true, "1001 is unaffected")
        let back = try await waitUntil(seconds: 5) { try await check(server, as: convC, "10.40.1.1", "tcp", 22).bool("allow") == true }
        #expect(back != nil, "answers resume once the subscriber is active again")
    }

    @Test("ldapmodify removing a destination flips the decision within 1 s")
    func ldapmodifyFlip() async throws {
        let (server, convA, _) = try await SharedAccessServer.get()
        let dir = temporaryDirectory("ldif")
        let dn = "cn=flip-test,ou=destinations,tgOrgNumber=1001,ou=subscribers,dc=tollgate"
        try """
        dn: \(dn)
        changetype: add
        objectClass: tgDestination
        cn: flip-test
        tgOrgNumber: 1001
        tgNetwork: 10.70.0.0/16
        tgAddressFrom: 00000000000000000000ffff0a460000
        tgAddressTo: 00000000000000000000ffff0a46ffff
        tgPrefixLength: 16
        tgProtocol: tcp
        tgPortRange: 443

        """.write(toFile: "\(dir)/add.ldif", atomically: true, encoding: .utf8)
        try "dn: \(dn)\nchangetype: delete\n\n".write(toFile: "\(dir)/delete.ldif", atomically: true, encoding: .utf8)
        #expect(try await check(server, as: convA, "10.70.1.2", "tcp", 443).bool("allow") == false)
        let add = try await run("/usr/bin/ldapmodify", ["-Q", "-Y", "EXTERNAL", "-H", server.slapd.ldapiURL, "-f", "\(dir)/add.ldif"])
        try #require(add.status == 0, "\(add.output)")
        let allowedAfter = try await waitUntil(seconds: 5) { try await check(server, as: convA, "10.70.1.2", "tcp", 443).bool("allow") == true }
        #expect(allowedAfter != nil, "the added destination allows")
        let delete = try await run("/usr/bin/ldapmodify", ["-Q", "-Y", "EXTERNAL", "-H", server.slapd.ldapiURL, "-f", "\(dir)/delete.ldif"])
        try #require(delete.status == 0, "\(delete.output)")
        let deniedAfter = try await waitUntil(seconds: 5) { try await check(server, as: convA, "10.70.1.2", "tcp", 443).bool("allow") == false }
        let seconds = try #require(deniedAfter, "the removal never reached the decision")
        #expect(seconds < 1.0, "the decision flipped \(seconds) s after ldapmodify returned; the bound is 1 s")
    }

    @Test("GET /v1/policy: ETag, If-None-Match 304, long-poll returns on change and 304 after the wait")
    func policyAndLongPoll() async throws {
        let (server, convA, _) = try await SharedAccessServer.get()
        let first = try await callAPI(server, "/v1/policy", as: convA)
        #expect(first.status == 200)
        let version = try #require(first.string("version"))
        #expect(first.headers["etag"] == "\"\(version)\"")
        #expect(first.string("org") == "1001" && first.bool("stale") == false && first.int("ttl") == 60)
        let lab = first.objects("destinations").first { $0["name"] as? String == "lab-v6" }
        #expect(lab?["ports"] as? [String] == ["500", "4500", "8000-8100"], "\(String(describing: lab))")
        #expect(lab?["protocol"] as? String == "udp" && lab?["action"] as? String == "allow")
        let expired = first.objects("destinations").first { $0["name"] as? String == "old-dmz" }
        #expect(expired?["notAfter"] as? String == "2025-01-01T00:00:00Z")
        let same = try await callAPI(server, "/v1/policy", as: convA, headers: ["If-None-Match: \"\(version)\""])
        #expect(same.status == 304 && same.body.isEmpty)
        // wait=1 with no change: 304 after about a second.
        let idle = try await callAPI(server, "/v1/policy?wait=1", as: convA, headers: ["If-None-Match: \"\(version)\""])
        #expect(idle.status == 304)
        // A long-poll that a change ends.
        let started = ContinuousClock.now
        async let poll = callAPI(server, "/v1/policy?wait=30", as: convA, headers: ["If-None-Match: \"\(version)\""], timeout: 40)
        try await Task.sleep(for: .milliseconds(300))
        let store = DirectoryStore(client: server.store)
        let added = Destination(name: "longpoll-\(UInt32.random(in: 0...UInt32.max))", orgNumber: "1001",
                                network: try IPNetwork(parsing: "10.80.0.0/16"), protocol: "udp", ports: [try PortRange(parsing: "53")])
        try await store.addDestination(added)
        let changed = try await poll
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        #expect(changed.status == 200, "\(changed.body)")
        #expect(elapsed < 20, "the long-poll returned on the change, not at its end (\(elapsed) s)")
        let newVersion = try #require(changed.string("version"))
        #expect(newVersion != version && changed.headers["etag"] == "\"\(newVersion)\"")
        #expect(changed.objects("destinations").contains { $0["name"] as? String == added.name })
        try await store.removeDestination(orgNumber: "1001", name: added.name)
        // A bad wait is refused.
        let bad = try await callAPI(server, "/v1/policy?wait=301", as: convA)
        #expect(bad.status == 400 && bad.string("field") == "wait", "\(bad.body)")
    }

    @Test("malformed requests get a clear 4xx naming the problem")
    func malformed() async throws {
        let (server, convA, _) = try await SharedAccessServer.get()
        let cases: [(String, String, String?, Int, String?, String)] = [
            // (path, body, content type, status, field, words in the message)
            ("/v1/access/check", "{\"destination\":\"10.0.0.256\",\"protocol\":\"tcp\",\"port\":1}", "application/json", 400, "destination", "not an IPv4 or IPv6 address"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1/24\"}", "application/json", 400, "destination", "not an IPv4"),
            ("/v1/access/check", "{\"protocol\":\"tcp\",\"port\":1}", "application/json", 400, "destination", "give the destination"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1\",\"protocol\":\"gre\"}", "application/json", 400, "protocol", "tcp, udp, icmp, esp or any"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\"}", "application/json", 400, "port", "give the port"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1\",\"protocol\":\"udp\",\"port\":70000}", "application/json", 400, "port", "out of range"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":\"443\"}", "application/json", 400, "port", "integer"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1\",\"source\":\"nowhere\"}", "application/json", 400, "source", "not an IPv4"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1\"", "application/json", 400, nil, "not valid JSON"),
            ("/v1/access/check", "[1,2,3]", "application/json", 400, nil, "JSON object"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1\"}", "text/plain", 415, nil, "application/json"),
            ("/v1/access/check", "{\"destination\":\"10.0.0.1\"}", nil, 415, nil, "application/json"),
            ("/v1/access/batch", "{\"checks\":[{\"destination\":\"10.0.0.1\"},{\"destination\":\"bad host!\"}]}", "application/json", 400, "checks[1].destination", "not an IPv4"),
            ("/v1/access/batch", "{\"checks\":[" + Array(repeating: "{\"destination\":\"10.0.0.1\"}", count: 257).joined(separator: ",") + "]}", "application/json", 400, "checks", "at most 256"),
            ("/v1/access/batch", "{}", "application/json", 400, "checks", "give {\"checks\""),
            ("/v1/access/check", "{\"destination\":\"" + String(repeating: "a", count: 70_000) + "\"}", "application/json", 413, nil, "larger than 65536 bytes"),
        ]
        for (path, body, contentType, status, field, words) in cases {
            let answer = try await callAPI(server, path, method: "POST", as: convA, body: body, contentType: contentType)
            let label = "\(path) \(body.prefix(60))"
            #expect(answer.status == status, "\(label): \(answer.status) \(answer.body)")
            #expect(answer.headers["content-type"] == "application/json", "\(label)")
            if let field { #expect(answer.string("field") == field, "\(label): \(answer.body)") }
            #expect(answer.string("message")?.contains(words) == true, "\(label): \(answer.body)")
            #expect(answer.string("error") != nil, "\(label): \(answer.body)")
        }
        // The server still answers normally afterwards.
        #expect(try await check(server, as: convA, "10.20.3.4", "tcp", 443).bool("allow") == true)
    }

    @Test("history: per-converter counts per period and each refusal with its reason, capped per period")
    func history() async throws {
        let (server, _, convC) = try await SharedAccessServer.get()
        // 40 refusals and 3 allowed checks by conv-c in one batch.
        let denied = Array(repeating: "{\"destination\":\"10.99.0.1\",\"protocol\":\"tcp\",\"port\":8443}", count: 40)
        let allowed = Array(repeating: "{\"destination\":\"10.40.7.7\",\"protocol\":\"tcp\",\"port\":22}", count: 3)
        let batch = try await callAPI(server, "/v1/access/batch", method: "POST", as: convC,
                                      body: "{\"checks\":[\((denied + allowed).joined(separator: ","))]}")
        #expect(batch.status == 200)
        struct Event: Decodable { var type: String; var converter: String?; var data: String? }
        var summaries: [[String: Any]] = []
        var denials: [[String: Any]] = []
        let found = try await waitUntil(seconds: 10) {
            let history = try await server.admin(["history", "--org", "1002", "--json"])
            let events = try JSONDecoder().decode([Event].self, from: Data(history.output.utf8)).filter { $0.converter == "conv-c" }
            func objects(_ type: String) -> [[String: Any]] {
                events.filter { $0.type == type }.compactMap { event in
                    event.data.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                }
            }
            summaries = objects("access.summary")
            denials = objects("access.denied").filter { $0["destination"] as? String == "10.99.0.1" }
            let counted = summaries.reduce(0) { total, summary in
                total + ((((summary["destinations"] as? [String: Any])?["10.99.0.1 tcp/8443"] as? [String: Any])?["denied"] as? Int) ?? 0)
            }
            return counted == 40
        }
        #expect(found != nil, "summaries counted the 40 refusals: \(summaries)")
        let allowedCount = summaries.reduce(0) { total, summary in
            total + ((((summary["destinations"] as? [String: Any])?["10.40.7.7 tcp/22"] as? [String: Any])?["allowed"] as? Int) ?? 0)
        }
        #expect(allowedCount == 3)
        // Each refusal is either an event with its reason or counted as not recorded.
        let notRecorded = summaries.reduce(0) { $0 + (($1["deniesNotRecorded"] as? Int) ?? 0) }
        #expect(!denials.isEmpty && denials.count <= 40)
        #expect(denials.count + notRecorded >= 40, "\(denials.count) events + \(notRecorded) counted")
        #expect(denials.count <= 20 * max(1, summaries.count), "at most 20 refusal events per converter and period")
        #expect(denials.allSatisfy { ($0["reason"] as? String)?.contains("no destination matches") == true })
        #expect(denials.first?["port"] as? Int == 8443 && denials.first?["protocol"] as? String == "tcp")
    }

    @Test("tollgate admin access check decides by LDAP search: exit 0 allow, 1 deny, 2 error; --json")
    func adminCheck() async throws {
        let (server, _, _) = try await SharedAccessServer.get()
        let allow = try await server.admin(["access", "check", "--org", "1001", "--converter", "conv-a", "--destination", "10.20.3.4",
                                            "--protocol", "tcp", "--port", "443"])
        #expect(allow.status == 0, "\(allow.output)")
        #expect(allow.output.contains("decision:") && allow.output.contains("allow"))
        #expect(allow.output.contains("cn=intranet-https,ou=destinations,tgOrgNumber=1001,ou=subscribers,dc=tollgate"), "\(allow.output)")
        let deny = try await server.admin(["access", "check", "--org", "1001", "--converter", "conv-a", "--destination", "10.60.5.7",
                                           "--protocol", "tcp", "--port", "22", "--json"])
        #expect(deny.status == 1, "\(deny.output)")
        struct Result: Decodable { var allow: Bool; var reason: String; var rule: String? }
        let result = try JSONDecoder().decode(Result.self, from: Data(deny.output.utf8))
        #expect(result.allow == false && result.reason == "denied by 10.60.5.0/24 tcp/22")
        #expect(result.rule?.hasPrefix("cn=ovl-24-deny-ssh,") == true)
        let expired = try await server.admin(["access", "check", "--org", "1001", "--converter", "conv-a", "--destination", "10.50.0.1",
                                              "--protocol", "tcp", "--port", "22"])
        #expect(expired.status == 1 && expired.output.contains("expired"), "\(expired.output)")
        let then = try await server.admin(["access", "check", "--org", "1001", "--converter", "conv-a", "--destination", "10.50.0.1",
                                           "--protocol", "tcp", "--port", "22", "--at", "2024-06-01"])
        #expect(then.status == 0, "valid in 2024: \(then.output)")
        let unknown = try await server.admin(["access", "check", "--org", "1001", "--converter", "no-such", "--destination", "10.20.3.4"])
        #expect(unknown.status == 2 && unknown.output.contains("does not exist"), "\(unknown.output)")
        let bad = try await server.admin(["access", "check", "--org", "1001", "--converter", "conv-a", "--destination", "10.20.3.4",
                                          "--protocol", "tcp"])
        #expect(bad.status == 2 && bad.output.contains("port"), "\(bad.output)")
    }
}
