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
        // The embedded, managed slapd instance under a data directory.
        .target(
            name: "ManagedSlapd",
            dependencies: [
                "LDAPClient",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // HTTP(S) front: health now, APIs in later issues.
        .target(
            name: "Web",
            dependencies: [
                "Directory",
                "LDAPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tollgate",
            dependencies: [
                "Directory",
                "LDAPClient",
                "ManagedSlapd",
                "Web",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "tollgate-agent",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
        .testTarget(
            name: "LDAPClientTests",
            dependencies: ["LDAPClient"]
        ),
        .testTarget(
            name: "DirectoryTests",
            dependencies: ["Directory"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["LDAPClient", "Directory", "ManagedSlapd"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
