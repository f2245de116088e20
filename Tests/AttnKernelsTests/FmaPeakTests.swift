@testable import AttnKernels
import XCTest

/// The FMA peak loop computes what it says (so its flop count is honest), and its measurement is
/// a finite rate that stops on Ctrl-C. Its speed is for benchmarks, never asserted here.
final class FmaPeakTests: XCTestCase {
    func testChainSumMatchesScalarFusedMultiplyAdds() {
        for (iterations, seed, factor) in [(0, 1.5, 0.25), (1, -2.0, 0.5), (7, 0.75, -0.125), (1000, 3.0, -1e-3)] as [(Int, Float, Float)] {
            var chains = (0..<FmaPeak.chains).map { seed + Float($0) }
            for _ in 0..<iterations {
                for i in chains.indices { chains[i] = chains[i].addingProduct(chains[i], factor) }
            }
            // The kernel adds its 16 chains as a balanced tree of pairs.
            var level = chains
            while level.count > 1 { level = stride(from: 0, to: level.count, by: 2).map { level[$0] + level[$0 + 1] } }
            let got = FmaPeak.chainSum(iterations: iterations, seed: seed, factor: factor)
            XCTAssertEqual(got.bitPattern, level[0].bitPattern, "\(iterations) iterations: \(got) vs \(level[0])")
        }
    }

    func testMeasureGivesAFiniteRate() throws {
        let rate = try FmaPeak.measure(threads: 1, seconds: 0.01)
        XCTAssertTrue(rate.isFinite && rate > 0, "\(rate)")
    }

    func testCancellationStopsTheMeasurement() {
        Cancellation.request()
        defer { Cancellation.reset() }
        XCTAssertThrowsError(try FmaPeak.measure(threads: 1, seconds: 10)) { XCTAssertEqual($0 as? KernelError, .cancelled) }
    }
}
