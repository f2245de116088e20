import AttnKernels
import Foundation
import XCTest

/// The layer, row and loss operations of training, against finite differences (TapeTests.check).
extension TapeTests {
    func testLayerNormAndGelu() throws {
        let x = try random([4, 7], seed: 21), gain = try random([7], seed: 22), bias = try random([7], seed: 23)
        try check("layernorm", [x, gain, bias]) { t, v in try t.layerNorm(v[0], gain: v[1], bias: v[2]) }
        try check("gelu", [x]) { t, v in t.gelu(v[0]) }
        // 19 columns: the gain and bias gradients' 16-lane loop and its scalar tail.
        let wide = try random([5, 19], seed: 31), wideGain = try random([19], seed: 32), wideBias = try random([19], seed: 33)
        try check("layernorm 19 columns", [wide, wideGain, wideBias]) { t, v in try t.layerNorm(v[0], gain: v[1], bias: v[2]) }
    }

    /// A linear layer's fused x W + b: finite differences, the bits of matmul then add (up to 256
    /// inputs), and its shape errors.
    func testAffine() throws {
        let x = try random([6, 5], seed: 34), w = try random([5, 3], seed: 35), b = try random([3], seed: 36)
        try check("affine", [x, w, b]) { t, v in try t.affine(v[0], v[1], v[2]) }
        let tape = Tape()
        let (vx, vw, vb) = (tape.leaf(x), tape.leaf(w), tape.leaf(b))
        XCTAssertEqual(tape.value(try tape.affine(vx, vw, vb)), tape.value(try tape.add(try tape.matmul(vx, vw), vb)))
        XCTAssertThrowsError(try tape.affine(vx, vb, vb))
        XCTAssertThrowsError(try tape.affine(vx, tape.leaf(try random([4, 3], seed: 37)), vb))
    }

    /// GELU's 16-lane loop (parallel chunks of 16K, a partial last vector) against the formula.
    func testGeluValuesAcrossChunksAndTail() throws {
        let x = try random([2 * 16384 + 21], seed: 28)
        let tape = Tape()
        let y = tape.value(tape.gelu(tape.leaf(x)))
        for i in x.data.indices {
            let v = Double(x.data[i]), expected = 0.5 * v * (1 + Foundation.tanh(0.7978845608 * (v + 0.044715 * v * v * v)))
            XCTAssertEqual(Double(y.data[i]), expected, accuracy: 2e-6 * max(1, abs(expected)), "\(i)")
        }
    }

    func testRowOperations() throws {
        let x = try random([5, 3], seed: 24)
        var mix = RowMix(gather: [4, 0, 4])
        mix.appendRow([(1, 0.5), (2, 0.25), (4, 0.25)])
        try check("mixRows", [x]) { t, v in try t.mixRows(v[0], mix) }
        try check("tileRows", [x]) { t, v in try t.tileRows(v[0], times: 3) }
        try check("columns", [x]) { t, v in try t.columns(v[0], 1..<3) }
        let tape = Tape()
        XCTAssertThrowsError(try tape.mixRows(tape.leaf(x), RowMix(gather: [5])))
    }

    func testBlockAndGroupedAttention() throws {
        let q = try random([6, 4], seed: 25), k = try random([9, 4], seed: 26), v = try random([9, 2], seed: 27)
        try check("block attention", [q, k, v]) { t, x in try t.blockAttention(x[0], x[1], x[2], blocks: 3) }
        // Block attention equals attention per block.
        let tape = Tape()
        let whole = tape.value(try tape.blockAttention(tape.leaf(q), tape.leaf(k), tape.leaf(v), blocks: 3))
        let second = try Attention.forward(q: try q.rows(2, 2), k: try k.rows(3, 3), v: try v.rows(3, 3)).0
        XCTAssertEqual(try whole.rows(2, 2).data, second.data)
        let kv = try random([9, 4], seed: 28)
        let valid = [true, true, false, true, true, true, false, true, true]
        try check("grouped attention", [try random([3, 4], seed: 29), kv]) { t, x in try t.groupedAttention(x[0], x[1], group: 3, valid: valid) }
    }

    func testLosses() throws {
        let logits = try random([4, 5], seed: 30)
        try check("cross-entropy", [logits]) { t, v in try t.crossEntropy(v[0], targets: [2, -1, 0, 4]).loss }
        let tape = Tape()
        let ce = try tape.crossEntropy(tape.leaf(try Tensor(shape: [1, 2], data: [0, 0])), targets: [1])
        XCTAssertEqual(ce.perRow[0], logf(2), accuracy: 1e-6)
        let outputs = try random([5, 2], seed: 31)
        try check("gaussian nll", [outputs]) { t, v in try t.gaussianNLL(v[0], targets: [0.5, -1, 0.2, 2, 0]).loss }
        // sigma = 0.1 + 0.9 * softplus(0) at mean 0, target 0: log sigma + log(2 pi) / 2.
        let nll = try tape.gaussianNLL(tape.leaf(try Tensor(shape: [1, 2], data: [0, 0])), targets: [0])
        XCTAssertEqual(nll.perRow[0], logf(0.1 + 0.9 * logf(2)) + 0.9189385, accuracy: 1e-5)
        try check("policy gradient", [try random([3, 4], seed: 32), try random([6, 4], seed: 33)]) { t, v in
            try t.policyGradient(v[0], v[1], choices: 2, chosen: [1, 0, 1], advantage: [0.5, -1, 2], entropyWeight: 0.1)
        }
    }
}

/// The token mixers of ToST and Treeformer: the same outputs as their inference kernels, and
/// gradients against finite differences. Treeformer's routing is piecewise constant in q and k
/// (a step can move a token across a hyperplane), so its differences are taken in v; its q and k
/// gradients come from mixRows and groupedAttention, each checked above.
extension TapeTests {
    func testTokenStatisticsMatchesKernelAndFiniteDifferences() throws {
        let x = try random([10, 6], seed: 40), temp = try Tensor(shape: [3], data: [1, 0.5, 2])
        var weights = try TokenStatistics.Weights.seeded(dim: 6, heads: 3, seed: 1)
        weights.out = try Tensor(shape: [6, 6], data: (0..<36).map { $0 % 7 == 0 ? 1 : 0 })  // identity: out = y
        weights.temp = temp
        let kernel = try TokenStatistics.forward(x: x, heads: 3, weights: weights).0
        let tape = Tape()
        let w = try tape.matmul(tape.leaf(x), tape.leaf(weights.w))
        let y = tape.value(try tape.tokenStatistics(w, temperature: tape.leaf(temp), heads: 3, blocks: 1))
        XCTAssertLessThan(try y.maxError(to: kernel), 1e-5)
        try check("tssa", [try random([10, 6], seed: 41), temp]) { t, v in try t.tokenStatistics(v[0], temperature: v[1], heads: 3, blocks: 2) }
    }

    func testTreeformerAttentionMatchesKernelAndFiniteDifferences() throws {
        let q = try random([16, 4], seed: 42), k = try random([16, 4], seed: 43), v = try random([16, 3], seed: 44)
        let variants: [(Treeformer.Mode, Bool)] = [(.tf, false), (.tc, false), (.tc, true), (.tftc, false), (.tftc, true)]
        let farQueries = try random([16, 4], seed: 45)
        for (mode, logCount) in variants {
            let kernel = try Treeformer.forward(q: q, k: k, v: v, mode: mode, leaf: 4, logCount: logCount).output
            let tape = Tape()
            let out = try tape.treeformerAttention(tape.leaf(q), tape.leaf(k), tape.leaf(v), blocks: 1, mode: mode, leaf: 4, logCount: logCount)
            XCTAssertLessThan(try tape.value(out.output).maxError(to: kernel), 1e-5, "\(mode) log \(logCount)")
            try check("treeformer \(mode) log \(logCount)", [v]) { t, x in
                try t.treeformerAttention(t.leaf(q), t.leaf(k), x[0], blocks: 2, mode: mode, leaf: 4, logCount: logCount).output
            }
            // Through the scores (the log-count bias included): the queries' gradients. Routing is
            // piecewise constant, so these queries (`q` has one within the check's step of a
            // hyperplane) keep their leaves under the step.
            try check("treeformer \(mode) log \(logCount), queries", [farQueries]) { t, x in
                try t.treeformerAttention(x[0], t.leaf(k), t.leaf(v), blocks: 2, mode: mode, leaf: 4, logCount: logCount).output
            }
        }
    }
}
