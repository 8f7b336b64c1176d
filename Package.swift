// swift-tools-version:6.0
import PackageDescription

// Release builds of the engine's numeric code need optimization even in
// `swift test` debug runs, so the C kernels always build with -O3.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno"])]

// The compiler proves exclusive access statically wherever it can. The
// run-time checks left for class properties and globals cost several percent
// of the per-request path in the networking, HTTP, scheduling and gateway modules.
// Release builds of those modules skip them, and debug builds keep them.
let hotPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"])
    ],
    targets: [
        // C libraries from Debian's -dev packages.
        .systemLibrary(name: "CNgHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CWslay", providers: [.apt(["libwslay-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Linux calls that Glibc's Swift overlay does not bring.
        .target(name: "CSystem"),
        // Vectorized dot products over quantized weight blocks for the engine.
        .target(name: "CKernels", cSettings: kernelFlags),

        .target(name: "SluiceCore"),
        .target(name: "SluiceNet", dependencies: ["SluiceCore", "CSystem", "COpenSSL"], swiftSettings: hotPathSettings),
        .target(
            name: "SluiceHTTP", dependencies: ["SluiceCore", "SluiceNet", "CNgHTTP2", "CWslay", "CZlib"],
            swiftSettings: hotPathSettings),
        .target(name: "SluiceRPC", dependencies: ["SluiceCore", "SluiceNet", "SluiceHTTP"]),
        .target(name: "SluiceScheduler", dependencies: ["SluiceCore"], swiftSettings: hotPathSettings),
        .target(name: "SluiceEngine", dependencies: ["SluiceCore", "CBLAS", "CKernels"]),
        .target(name: "SluiceWorkers", dependencies: ["SluiceCore", "SluiceScheduler", "SluiceEngine", "SluiceRPC"]),
        .target(
            name: "SluiceGateway",
            dependencies: ["SluiceCore", "SluiceNet", "SluiceHTTP", "SluiceRPC", "SluiceScheduler", "SluiceWorkers"],
            swiftSettings: hotPathSettings
        ),
        .executableTarget(name: "sluice", dependencies: ["SluiceGateway"]),
        // The HTTP layer alone, for the benchmark that separates its cost from the scheduler's.
        .executableTarget(name: "sluice-http-bench", dependencies: ["SluiceHTTP", "SluiceGateway"]),

        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore"]),
        // A raw-socket test client shared by the network and HTTP tests.
        .target(name: "SluiceTestSupport", dependencies: ["SluiceNet"], path: "Tests/SluiceTestSupport"),
        .testTarget(name: "SluiceNetTests", dependencies: ["SluiceNet", "SluiceTestSupport"]),
        .testTarget(name: "SluiceHTTPTests", dependencies: ["SluiceHTTP", "SluiceNet", "SluiceTestSupport"]),
        .testTarget(name: "SluiceSchedulerTests", dependencies: ["SluiceScheduler"]),
        .testTarget(name: "SluiceEngineTests", dependencies: ["SluiceEngine"]),
        .testTarget(name: "SluiceWorkersTests", dependencies: ["SluiceWorkers"]),
        .testTarget(name: "SluiceGatewayTests", dependencies: ["SluiceGateway"]),
    ],
    swiftLanguageModes: [.v6]
)
