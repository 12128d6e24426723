// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        .library(name: "AdapterKit", targets: ["AdapterKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // The canonical referral, its strict decoding and validation, lifecycle states, problem details, the clock.
        .target(name: "ReferralModel"),
        // The NHS Booking and Referral Standard (BaRS): FHIR R4 messages read and answered, codes,
        // OperationOutcomes; what `$process-message` and the bars adapter share.
        .target(name: "BaRS", dependencies: ["ReferralModel"]),
        // The API's documents (the Codable shapes of its bodies): written by the HTTP edge, read by
        // the command line and the tests. Not the use cases' business.
        .target(name: "APIDocuments", dependencies: ["ReferralModel"]),
        // The files administrators edit (switchboard.yaml, agencies.yaml) read into typed values, every
        // problem with file:line:column. Named Settings: Hummingbird brings swift-configuration's `Configuration`.
        .target(
            name: "Settings",
            dependencies: [
                "ReferralModel", "BaRS", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // The rule language (rules.yaml) and the service directory.
        .target(
            name: "Routing",
            dependencies: [
                "ReferralModel", "Settings", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The plugin SDK every agency adapter is written against.
        .target(name: "AdapterKit", dependencies: ["ReferralModel"]),
        // Agency adapter plugins: one folder each under plugins/.
        .target(
            name: "JSONWebhookAdapter",
            dependencies: ["AdapterKit", "ReferralModel"],
            path: "plugins/json-webhook"
        ),
        .target(name: "FHIRR4Adapter", dependencies: ["AdapterKit", "ReferralModel", "BaRS"], path: "plugins/fhir-r4"),
        .target(name: "BaRSAdapter", dependencies: ["AdapterKit", "ReferralModel", "BaRS", "FHIRR4Adapter"], path: "plugins/bars"),
        .target(name: "PortalAdapter", dependencies: ["AdapterKit", "ReferralModel"], path: "plugins/portal"),
        .target(
            name: "TemplateAdapter",
            dependencies: ["AdapterKit", "ReferralModel", .product(name: "Mustache", package: "swift-mustache")],
            path: "plugins/template"
        ),
        // The conformance kit every adapter plugin's tests run.
        .target(name: "AdapterConformance", dependencies: ["AdapterKit", "ReferralModel"]),
        // libcurl plus a non-variadic C shim.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        // The HTTP transport protocol and its libcurl implementation, run as a service.
        .target(
            name: "Transport",
            dependencies: ["CCurl", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // Audit event kinds, the one narrative that words them, the hash chain and its verification.
        .target(
            name: "Audit",
            dependencies: ["ReferralModel", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Storage protocols by job, the SQLite store and its in-memory twin.
        .target(
            name: "Storage",
            dependencies: ["ReferralModel", "Audit", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The PostgreSQL store, for several gateways on one database: the same protocols and contract as SQLite.
        .target(
            name: "PostgresStorage",
            dependencies: [
                "Storage", "ReferralModel", "Audit", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // What a gateway counts (swift-metrics), in a Prometheus registry of its own, for /metrics; logs as JSON lines.
        .target(
            name: "Observability",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The dispatcher: leasing, rendering, signing, retries, dead letters.
        .target(
            name: "Delivery",
            dependencies: [
                "AdapterKit", "Transport", "Storage", "Audit",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The operations HTTP, the command line and the tests all call: submitting a referral, changing rules.
        .target(
            name: "UseCases",
            dependencies: [
                "ReferralModel", "Settings", "Routing", "Storage", "Audit", "Delivery", "BaRS",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // A whole configuration loaded and validated together, and the running parts assembled from it.
        .target(
            name: "Deployment",
            dependencies: [
                "ReferralModel", "Settings", "Routing", "AdapterKit", "JSONWebhookAdapter", "FHIRR4Adapter", "BaRSAdapter", "TemplateAdapter",
                "PortalAdapter", "Transport", "Storage", "PostgresStorage", "Audit", "Delivery", "UseCases", "Observability",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A scripted stretch of time run through the gateway's own parts over the in-memory store and a
        // simulated clock (`switchboard simulate`).
        .target(
            name: "Simulation",
            dependencies: [
                "Deployment", "ReferralModel", "Settings", "Routing", "Storage", "Audit", "Delivery", "UseCases", "Transport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // What the API and the console share at the HTTP edge: the request context and who is calling,
        // authentication, role, rate and body-limit middleware, problem+json, the front door's counts.
        .target(
            name: "HTTPEdge",
            dependencies: [
                "ReferralModel", "Settings", "Audit", "UseCases", "Observability",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // The web console (Hummingbird route collections), server-rendered from the templates in Templates/.
        .target(
            name: "Console",
            dependencies: [
                "HTTPEdge", "ReferralModel", "Settings", "Routing", "Audit", "UseCases", "Deployment",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("Templates")]
        ),
        // The HTTP API (Hummingbird): routes as openapi.yaml documents them, in route collections, and the
        // application that serves them and the console.
        .target(
            name: "Gateway",
            dependencies: [
                "HTTPEdge", "Console", "ReferralModel", "Settings", "Routing", "Audit", "UseCases", "Deployment", "Observability", "BaRS",
                "APIDocuments",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            resources: [.copy("Resources/openapi.yaml")]
        ),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "Gateway", "Deployment", "ReferralModel", "Settings", "Transport", "Delivery", "Audit", "Storage", "Routing", "AdapterKit", "APIDocuments",
                "Observability", "Simulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // How tests start programs (gateways, receivers, openssl, PostgreSQL) without Foundation's Process.
        .target(name: "CSpawn", path: "Tests/CSpawn"),
        // Test doubles every test target may use: a clock the test moves, a transport it scripts; starting programs.
        .target(
            name: "SwitchboardTesting",
            dependencies: ["ReferralModel", "Settings", "Transport", "CSpawn", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SwitchboardTesting"
        ),
        // Benchmark tools (bench/run): baselines and an open-loop load generator. Not part of the product.
        .executableTarget(
            name: "intake-baseline",
            dependencies: [
                "ReferralModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "bench/IntakeBaseline"
        ),
        .executableTarget(name: "intake-load", dependencies: ["Transport"], path: "bench/IntakeLoad"),
        .executableTarget(
            name: "intake-costs",
            dependencies: ["ReferralModel", "Settings", "UseCases", "Observability", .product(name: "Logging", package: "swift-log")],
            path: "bench/IntakeCosts"
        ),
        .executableTarget(
            name: "delivery-bench",
            dependencies: [
                "Delivery", "Storage", "Transport", "AdapterKit", "JSONWebhookAdapter", "TemplateAdapter", "Audit", "ReferralModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "bench/DeliveryBench"
        ),
        .executableTarget(name: "rules-bench", dependencies: ["Routing", "Settings", "ReferralModel"], path: "bench/RulesBench"),
        .testTarget(name: "ReferralModelTests", dependencies: ["ReferralModel"]),
        .testTarget(name: "BaRSTests", dependencies: ["BaRS", "ReferralModel"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "SettingsTests",
            dependencies: ["Settings", "ReferralModel", "BaRS", "SwitchboardTesting", .product(name: "_CryptoExtras", package: "swift-crypto")]
        ),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "Settings", "ReferralModel", "SwitchboardTesting"]),
        .testTarget(
            name: "AdapterKitTests",
            dependencies: [
                "AdapterKit", "AdapterConformance", "JSONWebhookAdapter", "FHIRR4Adapter", "BaRSAdapter", "TemplateAdapter", "PortalAdapter",
                "ReferralModel", "BaRS",
            ]
        ),
        .testTarget(name: "TransportTests", dependencies: ["Transport"]),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["Simulation", "Deployment", "Settings", "ReferralModel", "Storage", "SwitchboardTesting", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "ReferralModel"]),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "Storage", "PostgresStorage", "Audit", "ReferralModel", "SwitchboardTesting", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            exclude: []
        ),
        .testTarget(
            name: "DeliveryTests",
            dependencies: [
                "Delivery", "Transport", "AdapterKit", "JSONWebhookAdapter", "PortalAdapter", "Storage", "Audit", "ReferralModel", "SwitchboardTesting",
                "Observability",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // A real misbehaving agency for the fault-injection tests.
                .product(name: "Hummingbird", package: "hummingbird"),
                // A stand-in NHS API platform that checks the client assertion's signature.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "UseCasesTests",
            dependencies: [
                "UseCases", "Routing", "Settings", "Storage", "Audit", "ReferralModel", "SwitchboardTesting",
                // The emergency path runs through the real dispatcher on a scripted transport.
                "Delivery", "AdapterKit", "JSONWebhookAdapter", "Transport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "HTTPEdge", "Console", "Deployment", "Settings", "ReferralModel", "Storage", "Transport", "Audit", "UseCases", "SwitchboardTesting", "APIDocuments",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "ReferralModel", "Transport", "Storage", "Audit", "Delivery", "SwitchboardTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)

// Coverage-guided fuzzing (libFuzzer, with the address sanitizer) of what parses untrusted text.
// Built only for bench/fuzz and scripts/test, with SWITCHBOARD_FUZZ=1 and --sanitize=fuzzer: the
// targets have no main of their own (libFuzzer's is linked in), so an ordinary build leaves them out.
if Context.environment["SWITCHBOARD_FUZZ"] != nil {
    let template: [Target.Dependency] = ["TemplateAdapter", "AdapterKit", "ReferralModel", .product(name: "Mustache", package: "swift-mustache")]
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("JSON", ["ReferralModel"]), ("Referral", ["ReferralModel"]), ("BaRSMessage", ["BaRS", "ReferralModel"]),
        ("Rules", ["Routing", "Settings", "ReferralModel"]), ("Pattern", ["Routing"]),
        ("Template", template),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: "fuzz-\(name.lowercased())", dependencies: dependencies, path: "Tests/Fuzz/\(name)",
                swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    }
}
