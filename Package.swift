// swift-tools-version:6.0
import PackageDescription

// Kernels are compiled for the host CPU in release builds: SIMD16<Float> code is only fast when
// the compiler may use AVX-512 (see docs/architecture.md). Debug builds stay portable.
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "native"], .when(configuration: .release)),
]

let package = Package(
    name: "attn",
    products: [
        .executable(name: "attn", targets: ["attn"]),
        .library(name: "AttnKernels", targets: ["AttnKernels"]),
        .library(name: "AttnLang", targets: ["AttnLang"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "CPUFeatures"),
        .target(name: "AttnKernels", dependencies: ["CPUFeatures"], swiftSettings: kernelFlags),
        .target(name: "AttnLang", dependencies: ["AttnKernels"]),
        .systemLibrary(name: "CReadline", providers: [.apt(["libreadline-dev"])]),
        .executableTarget(
            name: "attn",
            dependencies: [
                "AttnLang", "AttnKernels", "CReadline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "AttnKernelsTests", dependencies: ["AttnKernels"]),
        .testTarget(name: "AttnLangTests", dependencies: ["AttnLang", "AttnKernels"]),
        // Runs the built `attn` executable (and its REPL under tmux).
        .testTarget(name: "AttnCLITests", dependencies: ["attn"]),
    ],
    swiftLanguageModes: [.v5]
)
