import ArgumentParser
import Foundation
import LDAPClient

/// `tollgate-bench`: the equality-search rate of ``LDAPClient`` against a running slapd.
///
/// N tasks share one ``LDAPClient`` whose pool holds N connections; each task loops
/// `search(uid=userR)` → check exactly one entry for `--seconds`. The output line has the
/// same format as `bench/c/ldap-search-baseline.c`, so `bench/run` can put the two side
/// by side:
///
///     ops=… seconds=… rate=… p50_ms=… p99_ms=… errors=… cpu_us_per_op=…
@main
struct TollgateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-bench",
        abstract: "Measure LDAPClient equality-search throughput and latency."
    )

    @Option(help: "LDAP URL of the server, e.g. ldap://127.0.0.1:3899")
    var url: String

    @Option(name: .customLong("bind-dn"), help: "DN for the simple bind.")
    var bindDN: String

    @Option(help: "Password for the simple bind.")
    var password: String

    @Option(help: "Search base, e.g. ou=people,dc=bench")
    var base: String

    @Option(help: "Concurrent tasks, and connections in the pool.")
    var connections: Int = 1

    @Option(help: "Measured duration in seconds.")
    var seconds: Double = 10

    @Option(help: "Number of distinct uids: user0 … user{count-1}.")
    var count: Int = 100_000

    @Flag(help: "Each task pins one connection (LDAPClient.withPinnedConnection) instead of taking one from the pool per search.")
    var pinned = false

    mutating func validate() throws {
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        let client = LDAPClient(configuration: LDAPConfiguration(
            url: url,
            credentials: .simple(dn: DistinguishedName(bindDN), password: password),
            maximumConnections: connections
        ))
        let workload = Workload(client: client, base: DistinguishedName(base), count: count, pinned: pinned)

        // Warm-up (not measured): opens and binds the pool's connections, like the C
        // baseline binds every connection before its clock starts.
        _ = await workload.run(tasks: connections, for: .milliseconds(min(1000, Int(seconds * 100))))

        let cpuStarted = cpuSeconds()
        let started = ContinuousClock.now
        let results = await workload.run(tasks: connections, for: .seconds(seconds))
        let elapsed = ContinuousClock.now - started
        let cpu = cpuSeconds() - cpuStarted
        await client.close()

        let report = Report(results, elapsed: elapsed, cpu: cpu)
        print(report.line)
        if report.ops == 0 { throw ExitCode.failure }
    }
}

/// The measured loop: equality searches for random uids, each answer checked.
struct Workload: Sendable {
    let client: LDAPClient
    let base: DistinguishedName
    let count: Int
    let pinned: Bool

    /// Runs `tasks` concurrent loops until `duration` has passed.
    func run(tasks: Int, for duration: Duration) async -> [TaskResult] {
        let deadline = ContinuousClock.now + duration
        return await withTaskGroup(of: TaskResult.self) { group in
            for index in 0..<tasks {
                let seed = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15 ^ DispatchTime.now().uptimeNanoseconds
                group.addTask {
                    guard pinned else {
                        return await loop(seed: seed, until: deadline) { base, filter in
                            try await client.search(base: base, scope: .subtree, filter: filter, attributes: ["cn"])
                        }
                    }
                    do {
                        return try await client.withPinnedConnection { connection in
                            await loop(seed: seed, until: deadline) { base, filter in
                                try await connection.search(base: base, scope: .subtree, filter: filter, attributes: ["cn"])
                            }
                        }
                    } catch {
                        return TaskResult(errors: 1)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// One task's loop: search, check, record the latency in nanoseconds.
    private func loop(
        seed: UInt64, until deadline: ContinuousClock.Instant,
        search: (DistinguishedName, LDAPFilter) async throws -> [LDAPEntry]
    ) async -> TaskResult {
        var random = SplitMix64(seed: seed)
        var result = TaskResult()
        result.latencies.reserveCapacity(65_536)
        let clock = ContinuousClock()
        while clock.now < deadline {
            let uid = "user\(Int.random(in: 0..<count, using: &random))"
            let start = clock.now
            do {
                let entries = try await search(base, .equal("uid", uid))
                let latency = clock.now - start
                if entries.count == 1 {
                    result.latencies.append(latency.nanoseconds)
                } else {
                    result.errors += 1
                }
            } catch {
                result.errors += 1
            }
        }
        return result
    }
}

/// What one task measured.
struct TaskResult: Sendable {
    /// Latencies of the successful operations, in nanoseconds.
    var latencies: [Int64] = []
    /// Operations that threw or did not return exactly one entry.
    var errors = 0
}

/// The merged figures and their machine-readable line.
struct Report {
    let ops: Int
    let errors: Int
    let seconds: Double
    let p50: Double
    let p99: Double
    /// Process CPU time (user + system) during the measured run, in seconds.
    let cpu: Double

    init(_ results: [TaskResult], elapsed: Duration, cpu: Double) {
        self.cpu = cpu
        let latencies = results.flatMap(\.latencies).sorted()
        ops = latencies.count
        errors = results.reduce(0) { $0 + $1.errors }
        seconds = elapsed.seconds
        func percentile(_ fraction: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let index = min(latencies.count - 1, Int(Double(latencies.count) * fraction))
            return Double(latencies[index]) / 1_000_000
        }
        p50 = percentile(0.50)
        p99 = percentile(0.99)
    }

    var line: String {
        String(format: "ops=%d seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d cpu_us_per_op=%.1f",
               ops, seconds, seconds > 0 ? Double(ops) / seconds : 0, p50, p99, errors,
               ops > 0 ? cpu * 1e6 / Double(ops) : 0)
    }
}

/// User + system CPU time of this process, in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// A small, fast, seedable generator (SplitMix64), so that picking a uid costs no
/// system call.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }

    /// The duration in whole nanoseconds.
    var nanoseconds: Int64 {
        let (s, attoseconds) = components
        return s * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
