@testable import AttnKernels
import Foundation
import XCTest

/// The attention backward against (1) central finite differences of a Double forward on small
/// shapes and (2) a dense Double backward that materialises P on shapes spanning several blocks.
final class AttentionBackwardTests: XCTestCase {
    struct Case {
        var m, n, d, dv, heads: Int
        var causal: Bool
    }

    /// loss = sum(out * g), computed in Double from Double inputs.
    static func loss(_ q: [Double], _ k: [Double], _ v: [Double], _ g: [Double], _ c: Case) -> Double {
        let hd = c.d / c.heads, hdv = c.dv / c.heads, s = 1 / Double(hd).squareRoot()
        var total = 0.0
        for h in 0..<c.heads {
            for i in 0..<c.m {
                let visible = c.causal ? i + 1 : c.n
                var logits = [Double](repeating: 0, count: visible)
                for j in 0..<visible {
                    for x in 0..<hd { logits[j] += q[i * c.d + h * hd + x] * k[j * c.d + h * hd + x] }
                    logits[j] *= s
                }
                let top = logits.max() ?? 0
                let w = logits.map { exp($0 - top) }
                let z = w.reduce(0, +)
                for j in 0..<visible { for x in 0..<hdv { total += w[j] / z * v[j * c.dv + h * hdv + x] * g[i * c.dv + h * hdv + x] } }
            }
        }
        return total
    }

    /// Dense backward in Double: P, dP = g v^T, dS = P (dP - rowsum(dP P)), then the three products.
    static func denseGradients(_ q: [Double], _ k: [Double], _ v: [Double], _ g: [Double], _ c: Case) -> (q: [Double], k: [Double], v: [Double]) {
        let hd = c.d / c.heads, hdv = c.dv / c.heads, s = 1 / Double(hd).squareRoot()
        var dq = [Double](repeating: 0, count: c.m * c.d), dk = [Double](repeating: 0, count: c.n * c.d), dv = [Double](repeating: 0, count: c.n * c.dv)
        for h in 0..<c.heads {
            for i in 0..<c.m {
                let visible = c.causal ? i + 1 : c.n
                var p = [Double](repeating: 0, count: visible)
                for j in 0..<visible { for x in 0..<hd { p[j] += q[i * c.d + h * hd + x] * k[j * c.d + h * hd + x] }; p[j] *= s }
                let top = p.max() ?? 0
                p = p.map { exp($0 - top) }
                let z = p.reduce(0, +)
                p = p.map { $0 / z }
                var dp = [Double](repeating: 0, count: visible)
                for j in 0..<visible { for x in 0..<hdv { dp[j] += g[i * c.dv + h * hdv + x] * v[j * c.dv + h * hdv + x] } }
                let weighted = zip(p, dp).map(*).reduce(0, +)
                for j in 0..<visible {
                    let ds = p[j] * (dp[j] - weighted)
                    for x in 0..<hdv { dv[j * c.dv + h * hdv + x] += p[j] * g[i * c.dv + h * hdv + x] }
                    for x in 0..<hd {
                        dq[i * c.d + h * hd + x] += s * ds * k[j * c.d + h * hd + x]
                        dk[j * c.d + h * hd + x] += s * ds * q[i * c.d + h * hd + x]
                    }
                }
            }
        }
        return (dq, dk, dv)
    }

    func inputs(_ c: Case, seed: UInt64) throws -> (q: Tensor, k: Tensor, v: Tensor, g: Tensor) {
        (try random([c.m, c.d], seed: seed), try random([c.n, c.d], seed: seed + 1),
         try random([c.n, c.dv], seed: seed + 2), try random([c.m, c.dv], seed: seed + 3))
    }

    /// The backward twice: recomputing the log-sum-exp, and taking the forward's.
    func kernelGradients(_ t: (q: Tensor, k: Tensor, v: Tensor, g: Tensor), _ c: Case) throws -> [AttentionGradients] {
        let options = AttentionOptions(causal: c.causal, heads: c.heads)
        let (out, lse) = try Attention.forwardKeepingLogSumExp(q: t.q, k: t.k, v: t.v, options: options)
        XCTAssertEqual(out, try Attention.forward(q: t.q, k: t.k, v: t.v, options: options).0)
        return [try Attention.backward(q: t.q, k: t.k, v: t.v, out: out, gradOut: t.g, options: options),
                try Attention.backward(q: t.q, k: t.k, v: t.v, out: out, gradOut: t.g, options: options, logSumExp: lse)]
    }

    func assertClose(_ actual: Tensor, _ expected: [Double], _ what: String, tolerance: Double = 2e-4) {
        XCTAssertEqual(actual.count, expected.count, what)
        let scale = max(1, expected.map(abs).max() ?? 1)
        for (i, (a, e)) in zip(actual.data, expected).enumerated() where abs(Double(a) - e) > tolerance * scale {
            XCTFail("\(what)[\(i)] = \(a), expected \(e)")
            return
        }
    }

    func assertGradients(_ grads: AttentionGradients, _ expected: (q: [Double], k: [Double], v: [Double]), _ what: String, tolerance: Double = 2e-4) {
        assertClose(grads.q, expected.q, "dq " + what, tolerance: tolerance)
        assertClose(grads.k, expected.k, "dk " + what, tolerance: tolerance)
        assertClose(grads.v, expected.v, "dv " + what, tolerance: tolerance)
    }

    /// Runs the kernel on seeded inputs for each case and compares with `expected(inputs, case)`.
    func compare(_ cases: [Case], seed: UInt64, tolerance: Double,
                 _ expected: ([[Double]], [Double], Case) -> (q: [Double], k: [Double], v: [Double])) throws {
        for (index, c) in cases.enumerated() {
            let t = try inputs(c, seed: seed + UInt64(index) * 10)
            let doubles = [t.q, t.k, t.v].map { $0.data.map(Double.init) }
            let reference = expected(doubles, t.g.data.map(Double.init), c)
            for (path, grads) in try kernelGradients(t, c).enumerated() {
                assertGradients(grads, reference, "case \(index) path \(path)", tolerance: tolerance)
            }
        }
    }

    func testMatchesFiniteDifferences() throws {
        let cases = [Case(m: 1, n: 1, d: 3, dv: 2, heads: 1, causal: false), Case(m: 3, n: 5, d: 4, dv: 6, heads: 2, causal: false),
                     Case(m: 6, n: 6, d: 5, dv: 3, heads: 1, causal: true)]
        try compare(cases, seed: 40, tolerance: 1e-3) { original, g, c in
            // Central differences of the Double loss, one input element at a time.
            var inputs = original
            let eps = 1e-5
            var expected = [[Double]]()
            for which in 0..<3 {
                var column = [Double]()
                for i in inputs[which].indices {
                    let saved = inputs[which][i]
                    inputs[which][i] = saved + eps
                    let up = Self.loss(inputs[0], inputs[1], inputs[2], g, c)
                    inputs[which][i] = saved - eps
                    let down = Self.loss(inputs[0], inputs[1], inputs[2], g, c)
                    inputs[which][i] = saved
                    column.append((up - down) / (2 * eps))
                }
                expected.append(column)
            }
            return (expected[0], expected[1], expected[2])
        }
    }

    func testMatchesDenseBackwardAcrossBlocks() throws {
        let cases = [Case(m: 70, n: 130, d: 12, dv: 6, heads: 3, causal: false), Case(m: 131, n: 131, d: 7, dv: 9, heads: 1, causal: true),
                     Case(m: 1, n: 65, d: 16, dv: 16, heads: 4, causal: false)]
        try compare(cases, seed: 90, tolerance: 2e-4) { x, g, c in Self.denseGradients(x[0], x[1], x[2], g, c) }
    }

    /// Up to 1024 keys the backward takes one pass with per-group partial dk and dv (several
    /// groups of 256 query rows here); beyond, the three passes. Both against the dense backward.
    func testOnePassAndThreePassBackward() throws {
        let onePass = [Case(m: 300, n: 40, d: 8, dv: 6, heads: 2, causal: false), Case(m: 520, n: 520, d: 3, dv: 4, heads: 1, causal: true),
                       Case(m: 257, n: 1024, d: 16, dv: 16, heads: 1, causal: false)]
        let threePass = [Case(m: 9, n: 1030, d: 80, dv: 16, heads: 2, causal: false), Case(m: 1030, n: 1030, d: 2, dv: 1, heads: 1, causal: true)]
        for (cases, expected) in [(onePass, true), (threePass, false)] {
            for c in cases {
                let plan = BackwardPlan(m: c.m, n: c.n, dim: c.d, dimV: c.dv, heads: c.heads, scale: 1, causal: c.causal)
                XCTAssertEqual(plan.usesOnePass, expected, "\(c)")
            }
            try compare(cases, seed: 120, tolerance: 2e-4) { x, g, c in Self.denseGradients(x[0], x[1], x[2], g, c) }
        }
    }

    /// The forward's log-sum-exp per (head, row) against Double, causal and with the keys split
    /// into ranges (few queries over a long context), where it comes from merging the ranges.
    func testForwardLogSumExp() throws {
        for c in [Case(m: 3, n: 9000, d: 8, dv: 4, heads: 2, causal: false), Case(m: 19, n: 19, d: 6, dv: 6, heads: 3, causal: true)] {
            let t = try inputs(c, seed: 7)
            let lse = try Attention.forwardKeepingLogSumExp(q: t.q, k: t.k, v: t.v, options: AttentionOptions(causal: c.causal, heads: c.heads)).logSumExp
            let hd = c.d / c.heads, s = 1 / Double(hd).squareRoot()
            for h in 0..<c.heads {
                for i in 0..<c.m {
                    let logits = (0..<(c.causal ? i + 1 : c.n)).map { j in
                        (0..<hd).reduce(0.0) { $0 + Double(t.q.data[i * c.d + h * hd + $1]) * Double(t.k.data[j * c.d + h * hd + $1]) } * s
                    }
                    let top = logits.max() ?? 0
                    let expected = top + log(logits.map { exp($0 - top) }.reduce(0, +))
                    XCTAssertEqual(Double(lse[h * c.m + i]), expected, accuracy: 1e-4 * max(1, abs(expected)), "head \(h) row \(i)")
                }
            }
        }
        let q = try random([4, 8], seed: 1)
        let (out, _) = try Attention.forward(q: q, k: q, v: q)
        XCTAssertThrowsError(try Attention.backward(q: q, k: q, v: q, out: out, gradOut: out, logSumExp: [0, 0, 0]))
    }

    func testRejectsMismatchedGradient() throws {
        let q = try random([4, 8], seed: 1)
        let (out, _) = try Attention.forward(q: q, k: q, v: q)
        XCTAssertThrowsError(try Attention.backward(q: q, k: q, v: q, out: out, gradOut: try random([4, 7], seed: 2)))
        XCTAssertThrowsError(try Attention.backward(q: q, k: try random([5, 8], seed: 3), v: q, out: out, gradOut: out))
        XCTAssertThrowsError(try Attention.backward(q: q, k: q, v: q, out: out, gradOut: out, options: AttentionOptions(heads: 3)))
    }
}
