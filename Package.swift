// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "Tollgate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tollgate", targets: ["tollgate"]),
        .executable(name: "tollgate-agent", targets: ["tollgate-agent"]),
        .library(name: "LDAPClient", targets: ["LDAPClient"]),
        .library(name: "Directory", targets: ["Directory"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // libldap / liblber from Debian's libldap2-dev (pkg-config `ldap`).
        .systemLibrary(
            name: "CLDAP",
            path: "Sources/CLDAP",
            pkgConfig: "ldap",
            providers: [.apt(["libldap2-dev"])]
        ),
        // Async LDAP client: connection pool, escaping, typed errors.
        .target(
            name: "LDAPClient",
            dependencies: [
                "CLDAP",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Tollgate's DIT, typed models and their mapping to entries.
        .target(
            name: "Directory",
            dependencies: ["LDAPClient"]
        ),
        // posix_spawn/waitpid off the cooperative pool (slapd, swanctl, test harnesses).
        .target(name: "ProcessSpawning"),
        // The embedded, managed slapd instance under a data directory.
        .target(
            name: "ManagedSlapd",
            dependencies: [
                "LDAPClient",
                "ProcessSpawning",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Tollgate's PKI: root and issuing CA, issuance from CSRs, CRLs, certs-only CMS.
        .target(
            name: "CertificateAuthority",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // EST (RFC 7030) enrolment: authentication, directory lookups, issuance, publication.
        .target(
            name: "EST",
            dependencies: [
                "CertificateAuthority",
                "Directory",
                "LDAPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Subscription applications: intake, review rules, approval into a tenant.
        .target(
            name: "Subscription",
            dependencies: [
                "Directory",
                "EST",
                "LDAPClient",
                "Mail",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Access decisions for converters: RFC 4533 replica, decider, mTLS API, history.
        .target(
            name: "Access",
            dependencies: [
                "CLDAP",
                "CertificateAuthority",
                "Directory",
                "EST",
                "LDAPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Per-client traffic reports: analysis, HTML page with SVG charts, signed links,
        // the report mail and its scheduler.
        .target(
            name: "Reports",
            dependencies: [
                "Directory",
                "LDAPClient",
                "Mail",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Prometheus backend for swift-metrics, the /metrics exposition and the LDAP
        // operation observer.
        .target(
            name: "TollgateMetrics",
            dependencies: [
                "LDAPClient",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // HTTP(S) front: health now, APIs in later issues.
        .target(
            name: "Web",
            dependencies: [
                "Access",
                "CertificateAuthority",
                "Directory",
                "EST",
                "Reports",
                "Subscription",
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "LDAPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Converter monitoring: probes of the agents' status API over mTLS, health states,
        // mails, traffic collection into samples, roll-ups and retention.
        .target(
            name: "Monitoring",
            dependencies: [
                "CertificateAuthority",
                "Directory",
                "LDAPClient",
                "Mail",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tollgate",
            dependencies: [
                "Access",
                "Monitoring",
                "CertificateAuthority",
                "Directory",
                "EST",
                "LDAPClient",
                "Mail",
                "ManagedSlapd",
                "Reports",
                "Subscription",
                "TollgateMetrics",
                "Web",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // The converter-side agent: EST client, access API client over mTLS, policy cache,
        // strongSwan driver (swanctl). No libldap: it runs on converters.
        .target(
            name: "Agent",
            dependencies: [
                "CertificateAuthority",
                "ProcessSpawning",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tollgate-agent",
            dependencies: [
                "Agent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Mail: MIME messages, the on-disk spool/outbox, SMTP (STARTTLS, AUTH) delivery with retries.
        .target(
            name: "Mail",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Benchmark: Swift client search rate (compare with bench/c/ldap-search-baseline.c).
        .executableTarget(
            name: "tollgate-bench",
            dependencies: [
                "LDAPClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/swift"
        ),
        // Benchmark: EST enrolments/s over HTTPS against `tollgate serve`, next to the raw
        // in-process signing rate (bench/est-run drives it).
        .executableTarget(
            name: "tollgate-est-bench",
            dependencies: [
                "CertificateAuthority",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "bench/est"
        ),
        // Benchmark: access decisions/s over the mTLS API (bench/access-run drives it).
        .executableTarget(
            name: "tollgate-access-bench",
            dependencies: [
                "CertificateAuthority",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "bench/access"
        ),
        // Simulated converter fleet for monitoring tests and bench/monitor-run: N agents'
        // status APIs (/v1/status, /v1/traffic) over mTLS in one process.
        .executableTarget(
            name: "tollgate-fleet-sim",
            dependencies: [
                "CertificateAuthority",
                "Directory",
                "LDAPClient",
                "ManagedSlapd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "bench/fleet"
        ),
        .testTarget(
            name: "MonitoringTests",
            dependencies: ["Monitoring", "Directory"]
        ),
        .testTarget(
            name: "LDAPClientTests",
            dependencies: ["LDAPClient"]
        ),
        .testTarget(
            name: "CertificateAuthorityTests",
            dependencies: ["CertificateAuthority"]
        ),
        .testTarget(
            name: "DirectoryTests",
            dependencies: ["Directory"]
        ),
        // Helpers shared by the test targets: free ports, scratch directories, the aiosmtpd
        // test server, process clean-up at exit.
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "AccessTests",
            dependencies: ["Access", "Directory", "LDAPClient",
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOHTTPTypes", package: "swift-nio-extras")]
        ),
        .testTarget(
            name: "MailTests",
            dependencies: ["Mail", "TestSupport"]
        ),
        .testTarget(
            name: "ReportsTests",
            dependencies: ["Reports", "Directory"]
        ),
        .testTarget(
            name: "AgentTests",
            dependencies: ["Agent"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["LDAPClient", "Directory", "ManagedSlapd", "Mail", "Subscription", "Access", "Agent", "CertificateAuthority", "Monitoring", "ProcessSpawning", "Reports", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
