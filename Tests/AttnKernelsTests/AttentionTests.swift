import AttnKernels
import XCTest

final class AttentionTests: XCTestCase {
    /// Random shapes including edge sizes: N=1, N not a multiple of 16 or of the tiles, d=1, d=80.
    func testMatchesNaiveReference() throws {
        let cases: [(m: Int, n: Int, d: Int, heads: Int, causal: Bool)] = [
            (1, 1, 1, 1, false), (1, 1, 1, 1, true), (17, 17, 3, 1, true), (5, 300, 80, 1, false),
            (70, 70, 80, 4, true), (130, 257, 64, 4, false), (33, 1, 16, 2, false), (64, 64, 1, 1, true),
            (100, 100, 128, 8, true), (3, 513, 12, 3, false),
        ]
        for (index, c) in cases.enumerated() {
            let q = try random([c.m, c.d], seed: UInt64(3 * index))
            let k = try random([c.n, c.d], seed: UInt64(3 * index + 1))
            let v = try random([c.n, c.d], seed: UInt64(3 * index + 2))
            let (out, stats) = try Attention.forward(q: q, k: k, v: v, options: AttentionOptions(causal: c.causal, heads: c.heads))
            let expected = Reference.attention(q: q, k: k, v: v, causal: c.causal, heads: c.heads)
            XCTAssertEqual(out.shape, [c.m, c.d])
            XCTAssertLessThan(Reference.relativeError(out.data, expected), 1e-5, "case \(c)")
            let expectedTokens = c.causal ? Double(c.m + 1) / 2 : Double(c.n)
            XCTAssertEqual(stats.tokens, expectedTokens, accuracy: 1e-9, "case \(c)")
        }
    }

    func testValueDimensionMayDifferAndScaleIsUsed() throws {
        let q = try random([9, 6], seed: 1), k = try random([11, 6], seed: 2), v = try random([11, 10], seed: 3)
        let (out, stats) = try Attention.forward(q: q, k: k, v: v, options: AttentionOptions(heads: 2, scale: 0.3))
        XCTAssertEqual(out.shape, [9, 10])
        XCTAssertLessThan(Reference.relativeError(out.data, Reference.attention(q: q, k: k, v: v, causal: false, heads: 2, scale: 0.3)), 1e-5)
        XCTAssertEqual(stats.flops, 2 * 9 * 11 * Double(6 + 10))
    }

    func testLargeScoresStayFinite() throws {
        // Logits around 1e4 would overflow a naive exp; the running max keeps them finite.
        let q = try Tensor(shape: [2, 4], repeating: 100), k = try random([300, 4], seed: 9)
        let (out, _) = try Attention.forward(q: q, k: k.scalarOp(.mul, 50), v: k, options: AttentionOptions())
        XCTAssertTrue(out.data.allSatisfy(\.isFinite))
    }

    func testShapeErrors() throws {
        let a = try Tensor(zeros: [4, 8]), b = try Tensor(zeros: [5, 6]), c = try Tensor(zeros: [5, 8])
        XCTAssertThrowsError(try Attention.forward(q: a, k: b, v: b)) { error in
            XCTAssertEqual(error as? KernelError, .shapeMismatch("attention needs q and k with the same last dimension", [4, 8], [5, 6]))
        }
        XCTAssertThrowsError(try Attention.forward(q: a, k: c, v: c, options: AttentionOptions(causal: true)))
        XCTAssertThrowsError(try Attention.forward(q: a, k: c, v: c, options: AttentionOptions(heads: 3)))
        XCTAssertThrowsError(try Attention.forward(q: a, k: c, v: try Tensor(zeros: [4, 8])))
        XCTAssertThrowsError(try Attention.forward(q: try Tensor(zeros: [2, 4, 8]), k: c, v: c))
    }
}
