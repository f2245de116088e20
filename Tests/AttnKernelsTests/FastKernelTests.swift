@testable import AttnKernels
import Foundation
import XCTest

/// The fast paths against plain references, on odd shapes, for both micro-kernel tile shapes
/// (8x32 for AVX-512, 6x16 for AVX2: both run on any CPU, only their speed differs).
final class FastKernelTests: XCTestCase {
    func gemm(_ a: Tensor, _ b: Tensor, shape: TileShape) throws -> [Float] {
        let m = a.shape[0], k = a.shape[1], n = b.shape[1]
        var c = [Float](repeating: .nan, count: m * n)
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    Gemm.multiply(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, m: m, n: n, k: k, shape: shape)
                }
            }
        }
        return c
    }

    func testGemmMatchesReferenceForBothTileShapes() throws {
        for (index, (m, k, n)) in [(1, 1, 1), (7, 13, 5), (8, 1, 32), (6, 300, 16), (121, 300, 47), (130, 257, 515), (33, 600, 70)].enumerated() {
            let a = try random([m, k], seed: UInt64(2 * index)), b = try random([k, n], seed: UInt64(2 * index + 1))
            var expected = [Float](repeating: 0, count: m * n)
            a.data.withUnsafeBufferPointer { pa in
                b.data.withUnsafeBufferPointer { pb in
                    expected.withUnsafeMutableBufferPointer { pc in Gemm.reference(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, m: m, n: n, k: k) }
                }
            }
            let wide = try gemm(a, b, shape: .wide), narrow = try gemm(a, b, shape: .narrow)
            XCTAssertLessThan(Reference.relativeError(wide, expected.map(Double.init)), 1e-5, "\(m)x\(k)x\(n)")
            // Every element is computed in the same order whatever the tile: identical bits.
            XCTAssertEqual(wide, narrow, "\(m)x\(k)x\(n)")
        }
    }

    func testFlashAttentionMatchesReferencesForBothTileShapes() throws {
        // The odd shapes: N = 1, 17, 1000; d = 1, 3, 80, 128; heads 1-8; causal on and off.
        let cases: [(m: Int, n: Int, d: Int, heads: Int, causal: Bool)] = [
            (1, 1, 1, 1, false), (1, 1, 3, 1, true), (17, 17, 3, 1, true), (17, 1000, 80, 1, false),
            (1000, 1000, 128, 8, true), (70, 70, 80, 5, false), (300, 300, 16, 2, true), (9, 513, 1, 1, false),
            // Few queries, many keys: the keys are split into ranges that are merged afterwards.
            (5, 9000, 24, 1, false), (40, 20001, 64, 2, false),
            // 7 query blocks of the 8 x 32 tile's 64 rows, 9 of the 6 x 16 tile's 48: split all the same.
            (400, 9000, 32, 1, false),
            // Whole key blocks, packed up front and per block: their packed copies have no padding.
            (300, 512, 64, 1, false), (200, 1024, 128, 2, false),
        ]
        for (index, c) in cases.enumerated() {
            let q = try random([c.m, c.d], seed: UInt64(10 * index)), k = try random([c.n, c.d], seed: UInt64(10 * index + 1))
            let v = try random([c.n, c.d], seed: UInt64(10 * index + 2))
            let scale = 1 / Float(c.d / c.heads).squareRoot()
            var outputs = [[Float]]()
            for shape in TileShape.allCases {
                var out = try Tensor(zeros: [c.m, c.d])
                try FlashAttention.run(q: q, k: k, v: v, out: &out, heads: c.heads, scale: scale, causal: c.causal, shape: shape)
                outputs.append(out.data)
            }
            let expected = Reference.attention(q: q, k: k, v: v, causal: c.causal, heads: c.heads)
            XCTAssertLessThan(Reference.relativeError(outputs[0], expected), 1e-5, "\(c)")
            XCTAssertEqual(outputs[0], outputs[1], "tile shapes disagree for \(c)")
            let streaming = try Attention.streamingReference(q: q, k: k, v: v, heads: c.heads, scale: scale, causal: c.causal)
            XCTAssertLessThan(Reference.relativeError(outputs[0], streaming.data.map(Double.init)), 1e-5, "\(c)")
        }
    }

    /// Up to 256 queries form one block per head, and each key block is then packed by the item
    /// that reads it; more queries share K^T and V packed up front. A row's arithmetic does not
    /// depend on which: the first 256 rows alone give the bits they get among 300.
    func testKeysPackedPerBlockGiveTheUpFrontBits() throws {
        for (n, d, heads, causal) in [(1000, 80, 5, false), (300, 16, 2, true), (33, 3, 1, false)] {
            let q = try random([300, d], seed: 1), k = try random([n, d], seed: 2), v = try random([n, d], seed: 3)
            let first = try Tensor(shape: [256, d], data: Array(q.data[0..<(256 * d)]))
            XCTAssertEqual(FlashAttention.plan(m: 256, n: n, heads: heads, causal: causal, shape: .host).blocksPerHead, 1)
            XCTAssertGreaterThan(FlashAttention.plan(m: 300, n: n, heads: heads, causal: causal, shape: .host).blocksPerHead, 1)
            for shape in TileShape.allCases {
                var all = try Tensor(zeros: [300, d]), some = try Tensor(zeros: [256, d])
                try FlashAttention.run(q: q, k: k, v: v, out: &all, heads: heads, scale: 0.3, causal: causal, shape: shape)
                try FlashAttention.run(q: first, k: k, v: v, out: &some, heads: heads, scale: 0.3, causal: causal, shape: shape)
                XCTAssertEqual(some.data, Array(all.data[0..<(256 * d)]), "n \(n) d \(d) heads \(heads) causal \(causal) \(shape)")
            }
        }
    }

    /// Values wider than queries and keys (several V panels per head, whole key blocks) and a
    /// head dimension of 0 (every score 0: the output is the mean of the values).
    func testValuesOfAnotherWidthAndEmptyKeys() throws {
        for (m, n, d, dv, heads) in [(300, 512, 16, 96, 1), (40, 1024, 8, 200, 2), (5, 37, 0, 3, 1), (300, 300, 0, 40, 1)] {
            let q = try random([m, d], seed: 4), k = try random([n, d], seed: 5), v = try random([n, dv], seed: 6)
            let expected = Reference.attention(q: q, k: k, v: v, causal: false, heads: heads, scale: d == 0 ? 1 : nil)
            var outputs = [[Float]]()
            for shape in TileShape.allCases {
                var out = try Tensor(zeros: [m, dv])
                try FlashAttention.run(q: q, k: k, v: v, out: &out, heads: heads, scale: d == 0 ? 1 : 1 / Float(d / heads).squareRoot(),
                                       causal: false, shape: shape)
                outputs.append(out.data)
            }
            XCTAssertLessThan(Reference.relativeError(outputs[0], expected), 1e-5, "\(m) \(n) \(d) \(dv) \(heads)")
            XCTAssertEqual(outputs[0], outputs[1], "tile shapes disagree")
        }
    }

    func testSplitPlanDependsOnShapesOnly() {
        let plan = FlashAttention.plan(m: 40, n: 20001, heads: 2, causal: false, shape: .narrow)
        XCTAssertEqual(plan.blocksPerHead, 1)
        XCTAssertEqual(plan.splits, 4)
        XCTAssertGreaterThanOrEqual(plan.splits * plan.keysPerSplit, 20001)
        XCTAssertEqual(FlashAttention.plan(m: 4096, n: 4096, heads: 1, causal: false, shape: .narrow).splits, 1)
        XCTAssertEqual(FlashAttention.plan(m: 100, n: 100_000, heads: 1, causal: true, shape: .wide).splits, 1)
        // Nor on the tile: 400 queries are 7 blocks of 64 rows or 9 of 48, split alike.
        for shape in TileShape.allCases {
            XCTAssertEqual(FlashAttention.plan(m: 400, n: 9000, heads: 1, causal: false, shape: shape).splits, 2, "\(shape)")
        }
    }

    func testExp2IsAccurateAndUnderflowsToZero() {
        var worst = 0.0
        var x: Float = -125.9
        while x < 127 {
            let got = Double(FastExp.exp2(x)), want = Foundation.exp2(Double(x))
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(FastExp.exp2(-Float.infinity), 0)
        XCTAssertEqual(FastExp.exp2(-200), 0)
        XCTAssertEqual(FastExp.exp2(0), 1)
        XCTAssertEqual(FastExp.exp2(10), 1024)
    }

    /// The softmax's exponential skips the clamps; up to 127 it must give exp2's bits (below -126
    /// exp2 computes from -126 and this one from x itself: the mask must make both 0).
    func testExp2AtMost127GivesExp2Bits() {
        var inputs: [Float] = [-.infinity, -1e30, -200, -126.5, -126, -125.99, -0.0, 0, 0.5, 126.9, 127]
        var x: Float = -130
        while x <= 127 { inputs.append(x); x += 0.0371 }
        for start in stride(from: 0, to: inputs.count, by: 16) {
            var lanes = SIMD16<Float>(repeating: 0)
            for i in 0..<16 { lanes[i] = inputs[min(start + i, inputs.count - 1)] }
            let general = FastExp.exp2(lanes), skipping = FastExp.exp2(atMost127: lanes)
            for i in 0..<16 { XCTAssertEqual(general[i].bitPattern, skipping[i].bitPattern, "2^\(lanes[i])") }
        }
    }

    func testCancellationStopsAttention() throws {
        let x = try random([2000, 32], seed: 1)
        Cancellation.request()
        defer { Cancellation.reset() }
        XCTAssertThrowsError(try Attention.forward(q: x, k: x, v: x)) { XCTAssertEqual($0 as? KernelError, .cancelled) }
    }
}
