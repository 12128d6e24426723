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
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // The canonical referral, its strict decoding and validation, problem details.
        .target(name: "ReferralModel"),
        // The rule language and the configuration files administrators edit.
        .target(
            name: "Routing",
            dependencies: [
                "ReferralModel", .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
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
        .target(name: "FHIRR4Adapter", dependencies: ["AdapterKit", "ReferralModel"], path: "plugins/fhir-r4"),
        .target(
            name: "TemplateAdapter",
            dependencies: ["AdapterKit", "ReferralModel", .product(name: "Mustache", package: "swift-mustache")],
            path: "plugins/template"
        ),
        // The conformance kit every adapter plugin's tests run.
        .target(name: "AdapterConformance", dependencies: ["AdapterKit", "ReferralModel"]),
        // libcurl plus a non-variadic C shim.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "Transport", dependencies: ["CCurl"]),
        .target(
            name: "Audit",
            dependencies: ["ReferralModel", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "Storage",
            dependencies: ["ReferralModel", "Audit", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "Delivery",
            dependencies: [
                "AdapterKit", "Transport", "Storage", "Audit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "ReferralModel", "Routing", "AdapterKit", "JSONWebhookAdapter", "FHIRR4Adapter", "TemplateAdapter", "Transport",
                "Storage",
                "Audit", "Delivery",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            resources: [.copy("Resources/openapi.yaml")]
        ),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "Gateway", "ReferralModel", "Transport", "Delivery", "Audit", "Storage", "Routing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
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
        .executableTarget(name: "rules-bench", dependencies: ["Routing", "ReferralModel"], path: "bench/RulesBench"),
        .testTarget(name: "ReferralModelTests", dependencies: ["ReferralModel"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "ReferralModel"]),
        .testTarget(
            name: "AdapterTests",
            dependencies: [
                "AdapterKit", "AdapterConformance", "JSONWebhookAdapter", "FHIRR4Adapter", "TemplateAdapter", "ReferralModel",
            ]
        ),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "Storage", "ReferralModel"]),
        .testTarget(
            name: "DeliveryTests",
            dependencies: ["Delivery", "Transport", "AdapterKit", "JSONWebhookAdapter", "Storage", "ReferralModel"]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "ReferralModel", "Storage", "Transport", "Audit",
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
                "ReferralModel", "Transport", "Storage", "Audit", "Delivery",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)
