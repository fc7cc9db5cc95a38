import Foundation
import LDAPClient
import ManagedSlapd
import Testing

/// RFC 5805 transactions next to plain writes on the managed slapd. slapd 2.5 deadlocks
/// when syncprov checkpoints its contextCSN (`olcSpCheckpoint`) while a transaction's end
/// holds the write lock: the checkpointing write waits for the lock while holding
/// syncprov's response mutex, the transaction waits for that mutex to answer its own
/// writes, and every later write and bind queues behind them. Tollgate's slapd runs
/// without checkpoints; these tests show the load finishes that way, that a like load hangs
/// slapd with checkpoints (so the first test can fail), and that `start()` removes a
/// checkpoint an older instance still has.
@Suite("slapd: transactions next to plain writes")
struct SlapdTransactionTests {
    /// The attributes of one history event written by the loads.
    private static func event(_ id: String) -> [(String, String)] {
        [("objectClass", "tgHistoryEvent"), ("tgEventId", id), ("tgEventType", "test.txn-load"),
         ("tgEventTime", "20261205120000Z"), ("tgActor", "tester")]
    }

    /// The writes of the load: `transactions` transactions of 5 adds on one task each for
    /// 2 tasks, and 3 tasks of `plain` single adds, all at once. Returns how many entries
    /// were written and the first error.
    private func load(_ client: LDAPClient, tag: String, transactions: Int, plain: Int) async -> (written: Int, error: (any Error)?) {
        let parent = DistinguishedName("ou=history,dc=tollgate")
        func event(_ id: String) -> [(String, [Data])] { Self.event(id).map { ($0.0, [Data($0.1.utf8)]) } }
        return await withTaskGroup(of: (Int, (any Error)?).self) { group in
            for worker in 0..<2 {
                group.addTask {
                    var written = 0
                    do {
                        for round in 0..<transactions {
                            let writes = (0..<5).map { index -> LDAPWrite in
                                let id = "\(tag)-t\(worker)-\(round)-\(index)"
                                return .add(parent.child("tgEventId", id), event(id))
                            }
                            try await client.transaction(writes)
                            written += writes.count
                        }
                        return (written, nil)
                    } catch {
                        return (written, error)
                    }
                }
            }
            for worker in 0..<3 {
                group.addTask {
                    var written = 0
                    do {
                        for index in 0..<plain {
                            let id = "\(tag)-p\(worker)-\(index)"
                            try await client.add(parent.child("tgEventId", id), binaryAttributes: event(id))
                            written += 1
                        }
                        return (written, nil)
                    } catch {
                        return (written, error)
                    }
                }
            }
            var total = 0
            var firstError: (any Error)?
            for await (written, error) in group {
                total += written
                if firstError == nil { firstError = error }
            }
            return (total, firstError)
        }
    }

    /// The same kind of load from OpenLDAP's own `ldapmodify`, under timeout(1): a loop of
    /// 40 transactions of 5 adds (`-E txn=commit`) next to three writers of 300 plain adds.
    /// Returns every ldapmodify's exit status (124: timed out). Writes `<tag>-later.ldif`,
    /// one more add, for a probe afterwards.
    private func shellLoad(_ slapd: ManagedSlapd, tag: String) async throws -> [Int32] {
        let directory = slapd.layout.root
        func event(_ id: String) -> String {
            "dn: tgEventId=\(id),ou=history,dc=tollgate\nchangetype: add\n" + Self.event(id).map { "\($0.0): \($0.1)\n" }.joined() + "\n"
        }
        for round in 0..<40 {
            try (0..<5).map { event("\(tag)-t\(round)-\($0)") }.joined()
                .write(to: directory.appendingPathComponent("txn-\(round).ldif"), atomically: true, encoding: .utf8)
        }
        for worker in 0..<3 {
            try (0..<300).map { event("\(tag)-p\(worker)-\($0)") }.joined()
                .write(to: directory.appendingPathComponent("plain-\(worker).ldif"), atomically: true, encoding: .utf8)
        }
        try event("\(tag)-later").write(to: directory.appendingPathComponent("\(tag)-later.ldif"), atomically: true, encoding: .utf8)
        // One shell runs the writers side by side (this process's dispatch pool would
        // serialise blocking waits).
        let script = """
        cd \(directory.path)
        ( for round in $(seq 0 39); do timeout 5 ldapmodify -Q -Y EXTERNAL -H '\(slapd.ldapiURL)' -E txn=commit -f txn-$round.ldif \
            >/dev/null 2>&1; status=$?; echo $status; [ $status = 124 ] && break; done ) > txn.status &
        for worker in 0 1 2; do ( timeout 8 ldapmodify -Q -Y EXTERNAL -H '\(slapd.ldapiURL)' -f plain-$worker.ldif \
            >/dev/null 2>&1; echo $? ) > plain-$worker.status & done
        wait
        cat txn.status plain-*.status
        """
        return try await run("/bin/bash", ["-c", script]).output.split(whereSeparator: \.isNewline).compactMap { Int32($0) }
    }

    private func count(_ client: LDAPClient, tag: String) async throws -> Int {
        try await client.search(base: DistinguishedName("ou=history,dc=tollgate"), scope: .oneLevel,
                                filter: .equal("tgEventType", "test.txn-load"), attributes: ["1.1"])
            .filter { $0.dn.string.contains("=\(tag)-") }.count
    }

    @Test("transactions and concurrent plain writes all finish on Tollgate's slapd (no syncprov checkpoint)", .timeLimit(.minutes(3)))
    func loadFinishes() async throws {
        let slapd = try await startSlapd("txnload", demo: false)
        let admin = slapd.client(maximumConnections: 1)
        #expect(try await admin.read(ManagedSlapd.syncprovConfigDN, attributes: ["olcSpCheckpoint"])?["olcSpCheckpoint"] == nil)
        let statuses = try await shellLoad(slapd, tag: "sh")
        #expect(statuses == Array(repeating: 0, count: 43), "ldapmodify exit statuses: \(statuses)")
        #expect(try await count(admin, tag: "sh") == 40 * 5 + 3 * 300)
        // And through Tollgate's client.
        let client = LDAPClient(configuration: LDAPConfiguration(url: slapd.ldapiURL, credentials: .saslExternal,
                                                                 maximumConnections: 6, operationTimeout: 20))
        let result = await load(client, tag: "ok", transactions: 40, plain: 150)
        #expect(result.error == nil, "\(result.error.map { "\($0)" } ?? "")")
        #expect(result.written == 2 * 40 * 5 + 3 * 150)
        #expect(try await count(admin, tag: "ok") == 2 * 40 * 5 + 3 * 150)
        await client.close()
        await admin.close()
        _ = try? await slapd.stop()
    }

    @Test("the same load with olcSpCheckpoint 1 1 hangs slapd 2.5 (why Tollgate runs without)", .timeLimit(.minutes(3)))
    func checkpointDeadlocks() async throws {
        // Driven by OpenLDAP's own ldapmodify under timeout(1), so the evidence does not
        // depend on Tollgate's client and nothing in this process waits on the hung slapd.
        let slapd = try await startSlapd("txnckpt", demo: false)
        // It cannot be stopped cleanly once deadlocked.
        defer { if let pid = slapd.runningPID() { kill(pid, SIGKILL) } }
        let admin = slapd.client(maximumConnections: 1)
        try await admin.modify(ManagedSlapd.syncprovConfigDN, [.replace("olcSpCheckpoint", ["1 1"])])
        await admin.close()
        let statuses = try await shellLoad(slapd, tag: "ck")
        #expect(statuses.contains(124), "every ldapmodify finished: slapd did not hang (\(statuses))")
        // Not only the load: a later single write on a new connection hangs too.
        let later = try await run("/usr/bin/timeout", ["3", "/usr/bin/ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapiURL,
                                                       "-f", slapd.layout.root.appendingPathComponent("ck-later.ldif").path])
        #expect(later.status == 124)
    }

    @Test("start() removes olcSpCheckpoint from an instance that has it")
    func startRemovesCheckpoint() async throws {
        let slapd = try await startSlapd("ckptmigrate", demo: false)
        let admin = slapd.client(maximumConnections: 1)
        try await admin.modify(ManagedSlapd.syncprovConfigDN, [.replace("olcSpCheckpoint", ["100 10"])])
        #expect(try await admin.read(ManagedSlapd.syncprovConfigDN, attributes: ["olcSpCheckpoint"])?["olcSpCheckpoint"] == "100 10")
        await admin.close()
        try await slapd.stop()
        try await slapd.start()
        let after = slapd.client(maximumConnections: 1)
        #expect(try await after.read(ManagedSlapd.syncprovConfigDN, attributes: ["olcSpCheckpoint"])?["olcSpCheckpoint"] == nil)
        #expect(try await slapd.removeSyncprovCheckpoint() == false)
        await after.close()
        _ = try? await slapd.stop()
    }
}
