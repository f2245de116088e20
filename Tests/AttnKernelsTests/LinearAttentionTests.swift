@testable import AttnKernels
import Foundation
import XCTest

/// TSSA, Linformer and Combiner-Fixed against references written here in Double.
final class LinearAttentionTests: XCTestCase {
    func matrix(_ t: Tensor) -> [[Double]] {
        let cols = t.shape[1]
        return (0..<t.shape[0]).map { r in (0..<cols).map { Double(t.data[r * cols + $0]) } }
    }

    func matmul(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        a.map { row in (0..<b[0].count).map { j in row.indices.reduce(0.0) { $0 + row[$1] * b[$1][j] } } }
    }

    /// tssa.md, one line of the formula at a time.
    func referenceTSSA(_ x: Tensor, heads: Int, _ weights: TokenStatistics.Weights) -> [Double] {
        let n = x.shape[0], dim = x.shape[1], dh = dim / heads
        let w = matmul(matrix(x), matrix(weights.w))
        var wn = w
        for c in 0..<dim {
            let norm = max((0..<n).reduce(0.0) { $0 + w[$1][c] * w[$1][c] }.squareRoot(), 1e-12)
            for t in 0..<n { wn[t][c] = w[t][c] / norm }
        }
        var pi = [[Double]](repeating: [Double](repeating: 0, count: n), count: heads)
        for t in 0..<n {
            let logits = (0..<heads).map { h in (0..<dh).reduce(0.0) { $0 + wn[t][h * dh + $1] * wn[t][h * dh + $1] } * Double(weights.temp.data[h]) }
            let e = logits.map { exp($0 - logits.max()!) }
            for h in 0..<heads { pi[h][t] = e[h] / e.reduce(0, +) }
        }
        var y = [[Double]](repeating: [Double](repeating: 0, count: dim), count: n)
        for h in 0..<heads {
            let mass = pi[h].reduce(0, +) + 1e-8
            for c in 0..<dh {
                let dots = (0..<n).reduce(0.0) { $0 + pi[h][$1] / mass * w[$1][h * dh + c] * w[$1][h * dh + c] }
                for t in 0..<n { y[t][h * dh + c] = -(w[t][h * dh + c] * pi[h][t]) * (1 / (1 + dots)) }
            }
        }
        let out = matmul(y, matrix(weights.out))
        return out.flatMap { row in row.indices.map { row[$0] + Double(weights.bias.data[$0]) } }
    }

    func testTSSAMatchesTheFormula() throws {
        for (index, (n, dim, heads)) in [(1, 4, 1), (7, 6, 3), (33, 16, 8), (100, 24, 4), (257, 8, 2)].enumerated() {
            let x = try random([n, dim], seed: UInt64(index))
            var weights = try TokenStatistics.Weights.seeded(dim: dim, heads: heads, seed: 99)
            weights.bias = try random([dim], seed: 5)
            weights.temp = try random([heads], seed: 6)
            let (out, _) = try TokenStatistics.forward(x: x, heads: heads, weights: weights)
            XCTAssertLessThan(Reference.relativeError(out.data, referenceTSSA(x, heads: heads, weights)), 1e-5, "n=\(n) D=\(dim) h=\(heads)")
        }
        XCTAssertThrowsError(try TokenStatistics.forward(x: try random([4, 6], seed: 1), heads: 4, weights: try .seeded(dim: 6, heads: 4, seed: 1)))
    }

    func testLinformerIsAttentionOverProjectedKeys() throws {
        let q = try random([9, 8], seed: 1), k = try random([70, 8], seed: 2), v = try random([70, 5], seed: 3)
        let (e, f) = try Linformer.projections(proj: 16, n: 70, seed: 4)
        let (out, stats) = try Linformer.forward(q: q, k: k, v: v, e: e, f: f)
        let kp = matmul(matrix(e), matrix(k)), vp = matmul(matrix(f), matrix(v))
        let kt = try Tensor(shape: [16, 8], data: kp.flatMap { $0.map(Float.init) }), vt = try Tensor(shape: [16, 5], data: vp.flatMap { $0.map(Float.init) })
        XCTAssertLessThan(Reference.relativeError(out.data, Reference.attention(q: q, k: kt, v: vt, causal: false, heads: 1)), 1e-5)
        XCTAssertEqual(stats.tokens, 16)
        XCTAssertThrowsError(try Linformer.forward(q: q, k: k, v: v, e: try random([16, 69], seed: 1), f: f))
    }

    /// combiner.md built densely: an N x (N + R) logit matrix with -inf outside the support.
    func referenceCombiner(_ q: Tensor, _ k: Tensor, _ v: Tensor, s: Int, pool: CombinerFixed.Pool, causal: Bool) -> [Double] {
        let n = q.shape[0], d = q.shape[1], dv = v.shape[1], segments = (n + s - 1) / s
        let Q = matrix(q), K = matrix(k), V = matrix(v), scale = 1 / Double(d).squareRoot()
        func poolRows(_ m: [[Double]], _ rows: Range<Int>) -> [Double] {
            (0..<d).map { c in pool == .max ? rows.map { m[$0][c] }.max()! : rows.reduce(0.0) { $0 + m[$1][c] } / Double(rows.count) }
        }
        var ks = [[Double]](), vs = [[Double]]()
        for r in 0..<segments {
            let rows = (r * s)..<min(n, r * s + s)
            let qs = poolRows(Q, rows)
            ks.append(poolRows(K, rows))
            let logits = rows.map { j in (0..<d).reduce(0.0) { $0 + qs[$1] * K[j][$1] } * scale }
            let e = logits.map { exp($0 - logits.max()!) }
            vs.append((0..<dv).map { c in rows.enumerated().reduce(0.0) { $0 + e[$1.offset] / e.reduce(0, +) * V[$1.element][c] } })
        }
        var out = [Double]()
        for i in 0..<n {
            var logits = [Double](repeating: -.infinity, count: n + segments)
            let r = i / s
            for j in 0..<n where j / s == r && (!causal || j <= i) { logits[j] = (0..<d).reduce(0.0) { $0 + Q[i][$1] * K[j][$1] } * scale }
            for r2 in 0..<segments where !causal || r2 < r { logits[n + r2] = (0..<d).reduce(0.0) { $0 + Q[i][$1] * ks[r2][$1] } * scale }
            let top = logits.max()!
            let e = logits.map { $0 == -.infinity ? 0 : exp($0 - top) }
            let total = e.reduce(0, +)
            for c in 0..<dv {
                var value = 0.0
                for j in 0..<n { value += e[j] / total * V[j][c] }
                for r2 in 0..<segments { value += e[n + r2] / total * vs[r2][c] }
                out.append(value)
            }
        }
        return out
    }

    func testCombinerFixedMatchesDenseReference() throws {
        // Odd sizes, seg not dividing N, both pools, causal on and off.
        for (index, (n, d, seg)) in [(1, 3, nil), (10, 4, 3), (17, 5, nil), (50, 8, 7), (64, 6, 8)].enumerated() {
            for pool in [CombinerFixed.Pool.max, .mean] {
                for causal in [false, true] {
                    let q = try random([n, d], seed: UInt64(3 * index)), k = try random([n, d], seed: UInt64(3 * index + 1))
                    let v = try random([n, 4], seed: UInt64(3 * index + 2))
                    let result = try CombinerFixed.forward(q: q, k: k, v: v, seg: seg, pool: pool, causal: causal)
                    let s = try CombinerFixed.segmentLength(n: n, seg: seg)
                    XCTAssertLessThan(Reference.relativeError(result.output.data, referenceCombiner(q, k, v, s: s, pool: pool, causal: causal)), 1e-5,
                                      "n=\(n) seg=\(s) \(pool) causal=\(causal)")
                }
            }
        }
    }

    func testCombinerFixedReachesEveryPosition() throws {
        // Non-causal full attention capability: perturbing any single key or value changes every row.
        let n = 23, d = 4
        let q = try random([n, d], seed: 1), k = try random([n, d], seed: 2), v = try random([n, 3], seed: 3)
        let base = try CombinerFixed.forward(q: q, k: k, v: v, seg: 5).output
        for j in 0..<n {
            for (keys, values) in [(true, false), (false, true)] {
                var k2 = k, v2 = v
                if keys { for c in 0..<d { k2.data[j * d + c] += 0.5 } }
                if values { for c in 0..<3 { v2.data[j * 3 + c] += 0.5 } }
                let changed = try CombinerFixed.forward(q: q, k: k2, v: v2, seg: 5).output
                for i in 0..<n {
                    let delta = (0..<3).map { abs(changed.data[i * 3 + $0] - base.data[i * 3 + $0]) }.max()!
                    XCTAssertGreaterThan(delta, 0, "row \(i) does not see \(keys ? "key" : "value") \(j)")
                }
            }
        }
    }
}

/// Axial, logsparse and mixture against dense references built from the supports' definitions.
final class CombinerVariantTests: XCTestCase {
    typealias Summary = (key: [Double], value: [Double])

    /// The maximal dyadic intervals inside [from, to): every whole block [a 2^l, (a+1) 2^l) lying
    /// inside whose parent block does not (found by enumeration, not by the kernel's greedy walk).
    static func maximalDyadic(_ from: Int, _ to: Int, n: Int) -> [Range<Int>] {
        var result = [Range<Int>]()
        var size = 1
        while size <= max(n, 1) {
            for start in stride(from: 0, to: n, by: size) {
                let inside = start >= from && start + size <= to
                let parentStart = start / (2 * size) * 2 * size
                let parentInside = parentStart >= from && parentStart + 2 * size <= to
                if inside && !parentInside { result.append(start..<(start + size)) }
            }
            size *= 2
        }
        return result.sorted { $0.lowerBound < $1.lowerBound }
    }

    func summary(_ Q: [[Double]], _ K: [[Double]], _ V: [[Double]], _ rows: Range<Int>, weightedKey: Bool) -> Summary {
        let d = Q[0].count, scale = 1 / Double(d).squareRoot()
        let qs = (0..<d).map { c in rows.map { Q[$0][c] }.max()! }
        let logits = rows.map { j in (0..<d).reduce(0.0) { $0 + qs[$1] * K[j][$1] } * scale }
        let e = logits.map { exp($0 - logits.max()!) }
        let a = e.map { $0 / e.reduce(0, +) }
        let value = (0..<V[0].count).map { c in rows.enumerated().reduce(0.0) { $0 + a[$1.offset] * V[$1.element][c] } }
        let key = weightedKey ? (0..<d).map { c in rows.enumerated().reduce(0.0) { $0 + a[$1.offset] * K[$1.element][c] } }
                              : (0..<d).map { c in rows.map { K[$0][c] }.max()! }
        return (key, value)
    }

    func reference(_ q: Tensor, _ k: Tensor, _ v: Tensor, variant: Combiner.Variant, s: Int, causal: Bool) -> [Double] {
        let n = q.shape[0], d = q.shape[1], dv = v.shape[1], scale = 1 / Double(d).squareRoot()
        let Q = (0..<n).map { i in (0..<d).map { Double(q.data[i * d + $0]) } }
        let K = (0..<n).map { i in (0..<d).map { Double(k.data[i * d + $0]) } }
        let V = (0..<n).map { i in (0..<dv).map { Double(v.data[i * dv + $0]) } }
        let segments = (0..<((n + s - 1) / s)).map { ($0 * s)..<min(n, $0 * s + s) }
        var out = [Double]()
        for i in 0..<n {
            let row = i / s
            var direct = variant == .logsparse ? [i] : Array(segments[row].lowerBound..<(causal ? i + 1 : segments[row].upperBound))
            direct = Array(Set(direct)).sorted()
            var summaries = [Summary]()
            if variant == .mixture {
                for r in segments.indices where !causal || r < row { summaries.append(summary(Q, K, V, segments[r], weightedKey: false)) }
            }
            if variant == .axial || variant == .mixture {
                for r in segments.indices where r != row && (!causal || r < row) { summaries.append(summary(Q, K, V, segments[r], weightedKey: true)) }
            }
            if variant == .logsparse || variant == .mixture {
                var blocks = Self.maximalDyadic(0, i, n: n)
                if !causal { blocks += Self.maximalDyadic(i + 1, n, n: n) }
                for block in blocks { summaries.append(summary(Q, K, V, block, weightedKey: false)) }
            }
            let logits = direct.map { j in (0..<d).reduce(0.0) { $0 + Q[i][$1] * K[j][$1] } * scale }
                + summaries.map { sm in (0..<d).reduce(0.0) { $0 + Q[i][$1] * sm.key[$1] } * scale }
            let e = logits.map { exp($0 - logits.max()!) }
            let total = e.reduce(0, +)
            for c in 0..<dv {
                var value = 0.0
                for (o, j) in direct.enumerated() { value += e[o] / total * V[j][c] }
                for (o, sm) in summaries.enumerated() { value += e[direct.count + o] / total * sm.value[c] }
                out.append(value)
            }
        }
        return out
    }

    func testDyadicCoverTilesTheRange() {
        for n in [1, 5, 16, 37] {
            for from in 0...n {
                for to in from...n {
                    var levels = 0
                    while (1 << levels) < n { levels += 1 }
                    let cover = Combiner.dyadicCover(from: from, to: to, levels: levels).map { ($0.index << $0.level)..<min(n, ($0.index + 1) << $0.level) }
                    XCTAssertEqual(cover.flatMap { Array($0) }, Array(from..<to), "n=\(n) [\(from), \(to))")
                    XCTAssertLessThanOrEqual(cover.count, 2 * levels + 1)
                    XCTAssertEqual(cover, Self.maximalDyadic(from, to, n: n), "n=\(n) [\(from), \(to))")
                }
            }
        }
    }

    func testVariantsMatchDenseReferences() throws {
        for variant in [Combiner.Variant.axial, .logsparse, .mixture] {
            for (index, (n, d, seg)) in [(1, 3, 1), (9, 4, 3), (23, 5, 5), (40, 6, 7)].enumerated() {
                for causal in [false, true] {
                    var rng = Xoshiro256(seed: UInt64(10 * index))
                    let q = try Tensor.randn([n, d], rng: &rng), k = try Tensor.randn([n, d], rng: &rng), v = try Tensor.randn([n, 3], rng: &rng)
                    let result = try Combiner.forward(q: q, k: k, v: v, variant: variant, seg: seg, causal: causal)
                    XCTAssertLessThan(Reference.relativeError(result.output.data, reference(q, k, v, variant: variant, s: seg, causal: causal)), 1e-5,
                                      "\(variant) n=\(n) seg=\(seg) causal=\(causal)")
                }
            }
        }
    }

    func testEveryVariantReachesEveryPosition() throws {
        let n = 21, d = 4
        var rng = Xoshiro256(seed: 4)
        let q = try Tensor.randn([n, d], rng: &rng), k = try Tensor.randn([n, d], rng: &rng), v = try Tensor.randn([n, 3], rng: &rng)
        for variant in Combiner.Variant.allCases {
            let base = try Combiner.forward(q: q, k: k, v: v, variant: variant, seg: 4).output
            for j in 0..<n {
                var v2 = v
                for c in 0..<3 { v2.data[j * 3 + c] += 0.5 }
                let changed = try Combiner.forward(q: q, k: k, v: v2, variant: variant, seg: 4).output
                for i in 0..<n {
                    XCTAssertGreaterThan((0..<3).map { abs(changed.data[i * 3 + $0] - base.data[i * 3 + $0]) }.max()!, 0, "\(variant): row \(i) does not see value \(j)")
                }
            }
        }
    }
}
