import AttnKernels
import Foundation
import XCTest

/// The tree family against references written here, independently of the kernels:
/// tree shapes and summaries recomputed, the greedy search by direct recursion in Double,
/// Treeformer routing by recursion over the fitted hyperplanes.
final class TreeTests: XCTestCase {
    func testDepthAndLeafSize() throws {
        // (N, b, leaf) -> (k, P) from tca.md: k = floor(log_b(N - 1)), P = ceil(N / b^k).
        let cases: [(Int, Int, Int?, Int, Int)] = [
            (1, 2, nil, 0, 1), (2, 2, nil, 0, 2), (3, 2, nil, 1, 2), (5, 2, nil, 2, 2), (4096, 2, nil, 11, 2),
            (1000, 3, nil, 6, 2), (17, 4, nil, 2, 2), (1000, 2, 32, 5, 32), (1000, 2, 1000, 0, 1000), (7, 2, 1, 3, 1),
        ]
        for (n, b, leaf, k, p) in cases {
            let shape = try TensorTree.shape(count: n, branch: b, leaf: leaf)
            XCTAssertEqual([shape.depth, shape.leafSize], [k, p], "N=\(n) b=\(b) leaf=\(String(describing: leaf))")
        }
        XCTAssertThrowsError(try TensorTree.shape(count: 10, branch: 1, leaf: nil))
        XCTAssertThrowsError(try TensorTree.shape(count: 10, branch: 2, leaf: 11))
        XCTAssertThrowsError(try TensorTree.shape(count: 10, branch: 2, leaf: 0))
    }

    func testStructurePaddingAndSummaries() throws {
        for (n, b, agg) in [(1, 2, TensorTree.Aggregation.mean), (2, 2, .mean), (13, 2, .mean), (100, 3, .max), (257, 4, .mean)] {
            let ctx = try random([n, 5], seed: UInt64(n))
            let t = try TensorTree(context: ctx, branch: b, aggregation: agg)
            XCTAssertEqual(t.order.sorted(), Array(0..<n))
            let leaves = Int(pow(Double(b), Double(t.depth)))
            XCTAssertEqual(t.tokens.shape, [leaves * t.leafSize, 5])
            XCTAssertEqual(t.tokenIsPadding.filter { $0 }.count, leaves * t.leafSize - n)
            for position in 0..<n {
                XCTAssertEqual(Array(t.tokens.data[(position * 5)..<(position * 5 + 5)]), Array(ctx.data[(t.order[position] * 5)..<(t.order[position] * 5 + 5)]))
            }
            // Summaries recomputed bottom-up from the tokens.
            func summary(level: Int, node: Int) -> [Float]? {
                var parts = [[Float]]()
                if level == t.depth {
                    for position in (node * t.leafSize)..<((node + 1) * t.leafSize) where !t.tokenIsPadding[position] {
                        parts.append(Array(t.tokens.data[(position * 5)..<(position * 5 + 5)]))
                    }
                } else {
                    for child in (node * b)..<(node * b + b) { if let s = summary(level: level + 1, node: child) { parts.append(s) } }
                }
                guard !parts.isEmpty else { return nil }
                return (0..<5).map { c in
                    agg == .mean ? parts.map { $0[c] }.reduce(0, +) / Float(parts.count) : parts.map { $0[c] }.max()!
                }
            }
            for level in 0...t.depth {
                for node in 0..<Int(pow(Double(b), Double(level))) {
                    let expected = summary(level: level, node: node)
                    XCTAssertEqual(t.nodeIsPadding[level][node], expected == nil)
                    if let expected {
                        let got = Array(t.levels[level].data[(node * 5)..<(node * 5 + 5)])
                        for c in 0..<5 { XCTAssertEqual(got[c], expected[c], accuracy: 1e-5) }
                    }
                }
            }
        }
    }

    func testKDOrderSortsOneDimensionalPointsIntoLeaves() throws {
        let points = try random([500, 1], seed: 3)
        let t = try TensorTree(context: points, branch: 2, leaf: 8)
        var previousMax = -Float.infinity
        for leaf in 0..<t.leafCount {
            let values = (leaf * t.leafSize..<((leaf + 1) * t.leafSize)).filter { !t.tokenIsPadding[$0] }.map { t.tokens.data[$0] }
            guard let low = values.min(), let high = values.max() else { continue }
            XCTAssertGreaterThanOrEqual(low, previousMax)
            previousMax = high
        }
    }

    /// Greedy descent by direct recursion, in Double: the retrieved set and the output for one query.
    func referenceTCA(_ query: [Double], _ t: TensorTree, stop: Int, heads: Int) -> (out: [Double], setSize: Int, end: Int) {
        let d = t.dim, hd = d / heads, scale = 1 / Double(hd).squareRoot()
        func row(_ tensor: Tensor, _ r: Int) -> [Double] { (0..<d).map { Double(tensor.data[r * d + $0]) } }
        var set = [[Double]]()
        func descend(level: Int, node: Int) -> Int {
            if level == stop {
                if stop == t.depth {
                    for p in (node * t.leafSize)..<((node + 1) * t.leafSize) where !t.tokenIsPadding[p] { set.append(row(t.tokens, p)) }
                } else {
                    set.append(row(t.levels[level], node))
                }
                return node
            }
            let children = ((node * t.branch)..<(node * t.branch + t.branch)).filter { !t.nodeIsPadding[level + 1][$0] }
            var weights = [Double](repeating: 0, count: children.count)
            for h in 0..<heads {
                let logits = children.map { c in (h * hd..<(h + 1) * hd).reduce(0.0) { $0 + query[$1] * Double(t.levels[level + 1].data[c * d + $1]) } * scale }
                let top = logits.max()!
                let e = logits.map { exp($0 - top) }
                for i in children.indices { weights[i] += e[i] / e.reduce(0, +) / Double(heads) }
            }
            var best = 0
            for i in children.indices where weights[i] > weights[best] { best = i }
            for i in children.indices where i != best { set.append(row(t.levels[level + 1], children[i])) }
            return descend(level: level + 1, node: children[best])
        }
        let end = descend(level: 0, node: 0)
        var out = [Double](repeating: 0, count: d)
        for h in 0..<heads {
            let logits = set.map { s in (h * hd..<(h + 1) * hd).reduce(0.0) { $0 + query[$1] * s[$1] } * scale }
            let top = logits.max()!
            let e = logits.map { exp($0 - top) }
            let total = e.reduce(0, +)
            for (i, s) in set.enumerated() { for c in (h * hd)..<((h + 1) * hd) { out[c] += e[i] / total * s[c] } }
        }
        return (out, set.count, end)
    }

    func testTCAMatchesGreedyReference() throws {
        let cases: [(n: Int, b: Int, d: Int, heads: Int, depth: Int?)] = [
            (1, 2, 3, 1, nil), (2, 2, 4, 2, nil), (5, 2, 3, 1, nil), (17, 3, 8, 2, nil), (100, 2, 6, 3, nil),
            (257, 4, 5, 1, nil), (300, 2, 8, 1, 3), (300, 2, 8, 2, 0), (1000, 2, 16, 4, nil),
        ]
        for (index, c) in cases.enumerated() {
            let ctx = try random([c.n, c.d], seed: UInt64(100 + index)), q = try random([7, c.d], seed: UInt64(200 + index))
            let t = try TensorTree(context: ctx, branch: c.b)
            let result = try TreeCrossAttention.forward(q: q, tree: t, depth: c.depth, heads: c.heads)
            let stop = min(c.depth ?? t.depth, t.depth)
            var sizes = 0
            for r in 0..<7 {
                let query = (0..<c.d).map { Double(q.data[r * c.d + $0]) }
                let (expected, size, end) = referenceTCA(query, t, stop: stop, heads: c.heads)
                sizes += size
                XCTAssertLessThan(Reference.relativeError(Array(result.output.data[(r * c.d)..<((r + 1) * c.d)]), expected), 1e-5, "\(c) row \(r)")
                XCTAssertEqual(result.leaves[r], end, "\(c) row \(r)")
                if stop == t.depth {
                    let padding = ((end * t.leafSize)..<((end + 1) * t.leafSize)).filter { t.tokenIsPadding[$0] }.count
                    XCTAssertLessThanOrEqual(size, (c.b - 1) * t.depth + t.leafSize - padding)
                } else {
                    XCTAssertLessThanOrEqual(size, (c.b - 1) * stop + 1)
                }
            }
            XCTAssertEqual(result.tokens, Double(sizes) / 7, accuracy: 1e-9)
        }
    }

    func testFullBeamIsExactCrossAttention() throws {
        for (n, b) in [(1, 2), (33, 2), (100, 3)] {
            let ctx = try random([n, 6], seed: UInt64(n)), q = try random([5, 6], seed: 9)
            let t = try TensorTree(context: ctx, branch: b)
            let result = try TreeCrossAttention.forward(q: q, tree: t, beam: t.leafCount)
            XCTAssertLessThan(Reference.relativeError(result.output.data, Reference.attention(q: q, k: ctx, v: ctx, causal: false, heads: 1)), 1e-5)
            XCTAssertEqual(result.tokens, Double(n))
        }
    }

    func testTCAErrors() throws {
        let t = try TensorTree(context: try random([10, 4], seed: 1))
        XCTAssertThrowsError(try TreeCrossAttention.forward(q: try random([2, 5], seed: 2), tree: t))
        XCTAssertThrowsError(try TreeCrossAttention.forward(q: try random([2, 4], seed: 2), tree: t, beam: 0))
        XCTAssertThrowsError(try TreeCrossAttention.forward(q: try random([2, 4], seed: 2), tree: t, depth: -1))
        XCTAssertThrowsError(try TensorTree(context: try random([10, 4], seed: 1), branch: 1))
    }

    func testTreeformerMatchesRoutingByRecursion() throws {
        let variants: [(Treeformer.Mode, Bool)] = [(.tf, false), (.tc, false), (.tc, true), (.tftc, false), (.tftc, true)]
        for (mode, logCount) in variants {
            for split in [Treeformer.Split.pca, .random] {
                let k = try random([200, 6], seed: 1), v = try random([200, 5], seed: 2), q = try random([30, 6], seed: 3)
                let result = try Treeformer.forward(q: q, k: k, v: v, mode: mode, leaf: 16, split: split, seed: 4, logCount: logCount)
                let h = result.depth, d = 6
                XCTAssertEqual(h, 4)
                func leaf(_ z: [Float]) -> Int {
                    func go(_ node: Int, _ level: Int) -> Int {
                        if level == h { return node }
                        var s = result.offsets[node]
                        for c in 0..<d { s += result.normals[node * d + c] * z[c] }
                        return go(s < 0 ? 2 * node + 1 : 2 * node + 2, level + 1)
                    }
                    return go(0, 0)
                }
                let keyLeaves = (0..<200).map { leaf(Array(k.data[($0 * d)..<($0 * d + d)])) }
                // Balanced by the medians: 16 leaves of 200 keys hold 12 or 13 each, give or take ties.
                let sizes = Dictionary(grouping: keyLeaves, by: { $0 }).mapValues(\.count)
                XCTAssertLessThanOrEqual(sizes.values.max() ?? 0, 14)
                var empty = 0
                for r in 0..<30 {
                    let query = Array(q.data[(r * d)..<(r * d + d)])
                    let target = leaf(query)
                    // The attended (key, value, score bias) rows: the leaf's keys (tf), the path's
                    // means (tc), or the means above the leaf and the leaf's keys (tftc); with
                    // logCount a mean's score gains log(count).
                    var rows = [([Double], [Double], Double)]()
                    if mode != .tc {
                        for j in 0..<200 where keyLeaves[j] == target {
                            rows.append(((0..<d).map { Double(k.data[j * d + $0]) }, (0..<5).map { Double(v.data[j * 5 + $0]) }, 0))
                        }
                    }
                    if mode != .tf {
                        var node = mode == .tc ? target : (target - 1) / 2
                        while true {
                            var under = [Int]()
                            for j in 0..<200 {
                                var x = keyLeaves[j]
                                while x > node { x = (x - 1) / 2 }
                                if x == node { under.append(j) }
                            }
                            if !under.isEmpty {
                                let mk = (0..<d).map { c in under.reduce(0.0) { $0 + Double(k.data[$1 * d + c]) } / Double(under.count) }
                                let mv = (0..<5).map { c in under.reduce(0.0) { $0 + Double(v.data[$1 * 5 + c]) } / Double(under.count) }
                                rows.append((mk, mv, logCount ? log(Double(under.count)) : 0))
                            }
                            if node == 0 { break }
                            node = (node - 1) / 2
                        }
                    }
                    var expected = [Double](repeating: 0, count: 5)
                    if rows.isEmpty { empty += 1 } else {
                        let logits = rows.map { row in (0..<d).reduce(0.0) { $0 + Double(query[$1]) * row.0[$1] } / Double(d).squareRoot() + row.2 }
                        let top = logits.max()!
                        let e = logits.map { exp($0 - top) }
                        for (i, row) in rows.enumerated() { for c in 0..<5 { expected[c] += e[i] / e.reduce(0, +) * row.1[c] } }
                    }
                    let got = Array(result.output.data[(r * 5)..<(r * 5 + 5)])
                    for c in 0..<5 { XCTAssertEqual(Double(got[c]), expected[c], accuracy: 1e-5, "\(mode) log \(logCount) \(split) row \(r)") }
                }
                XCTAssertEqual(result.empty, empty)
            }
        }
        let k = try random([20, 4], seed: 1), q = try random([3, 4], seed: 2)
        // log_count weighs node means, which TF does not read.
        XCTAssertThrowsError(try Treeformer.forward(q: q, k: k, v: k, mode: .tf, leaf: 4, logCount: true))
        // A tree of one leaf: TF + TC has no node above the leaf and reads every key, as TF does.
        let one = try Treeformer.forward(q: q, k: k, v: k, mode: .tftc, depth: 0, logCount: true)
        XCTAssertEqual(one.output.data, try Treeformer.forward(q: q, k: k, v: k, mode: .tf, depth: 0).output.data)
        XCTAssertEqual(one.tokens, 20)
    }

    func testPrincipalDirectionFollowsTheStretchedAxis() throws {
        var k = try random([300, 3], seed: 5)
        for i in 0..<300 { k.data[i * 3 + 1] *= 20 }
        let result = try Treeformer.forward(q: k, k: k, v: k, mode: .tf, depth: 1, split: .pca)
        XCTAssertGreaterThan(abs(result.normals[1]), 0.99)
    }
}
