@testable import AttnKernels
import XCTest

/// Learned Treeformer trees: straight-through routing, attention through a learned tree, and
/// bootstrap 1 (fitting trees to dense attention).
extension TapeTests {
    /// Leaves by walking the hyperplanes one node at a time.
    func naiveLeaves(_ z: Tensor, _ w: Tensor, _ b: Tensor, depth: Int) -> [Int] {
        let d = z.shape[1]
        return (0..<z.shape[0]).map { r in
            var node = 0
            for _ in 0..<depth {
                let s = (0..<d).reduce(Double(b.data[node])) { $0 + Double(w.data[node * d + $1]) * Double(z.data[r * d + $1]) }
                node = s >= 0 ? 2 * node + 2 : 2 * node + 1
            }
            return node
        }
    }

    func testRouteFollowsHyperplanesAndGateGradientIsPathLogProbability() throws {
        let depth = 3, dim = 5
        let z = try random([11, dim], seed: 51), w = try random([7, dim], seed: 52), b = try random([7], seed: 53)
        let weights = try random([11], seed: 54)
        func run(_ z: Tensor, _ w: Tensor, _ b: Tensor) throws -> (leaves: [Int], grads: [Tensor]) {
            let tape = Tape()
            let leaves = [tape.leaf(z), tape.leaf(w), tape.leaf(b)]
            let routed = try tape.route(leaves[0], through: LearnedTree(normals: leaves[1], offsets: leaves[2], depth: depth), temperature: 0.7)
            XCTAssertEqual(tape.value(routed.gate).data, [Float](repeating: 1, count: 11))
            let loss = try tape.sum(try tape.multiply(routed.gate, tape.leaf(weights)))
            let all = try tape.gradients(of: loss)
            return (routed.leaves, try leaves.map { try XCTUnwrap(all[$0]) })
        }
        let (leaves, grads) = try run(z, w, b)
        XCTAssertEqual(leaves, naiveLeaves(z, w, b, depth: depth))
        // The gate's gradient is that of sum_r c_r log P(path_r), the branches held fixed.
        func logProbability(_ inputs: [Tensor]) -> Double {
            let (z, w, b) = (inputs[0], inputs[1], inputs[2])
            var total = 0.0
            for (r, leaf) in leaves.enumerated() {
                var path = [Int](), node = leaf
                while node > 0 { path.append(node); node = (node - 1) / 2 }
                for child in path {
                    let parent = (child - 1) / 2, direction = child % 2 == 0 ? 1.0 : -1.0
                    let s = (0..<dim).reduce(Double(b.data[parent])) { $0 + Double(w.data[parent * dim + $1]) * Double(z.data[r * dim + $1]) }
                    total += Double(weights.data[r]) * log(1 / (1 + exp(-direction * s / 0.7)))
                }
            }
            return total
        }
        let inputs = [z, w, b]
        for which in 0..<3 {
            for i in 0..<inputs[which].count {
                var shifted = inputs
                shifted[which].data[i] += 1e-3
                let up = logProbability(shifted)
                shifted[which].data[i] -= 2e-3
                let numeric = (up - logProbability(shifted)) / 2e-3
                XCTAssertEqual(Double(grads[which].data[i]), numeric, accuracy: 2e-3 * max(1, abs(numeric)), "input \(which)[\(i)]")
            }
        }
        let tape = Tape()
        XCTAssertThrowsError(try tape.route(tape.leaf(z), through: LearnedTree(normals: tape.leaf(w), offsets: tape.leaf(b), depth: 2)))
    }

    func testScaleRows() throws {
        try check("scaleRows", [try random([5, 3], seed: 55), try random([5], seed: 56)]) { t, v in try t.scaleRows(v[0], by: v[1]) }
        let tape = Tape()
        XCTAssertThrowsError(try tape.scaleRows(tape.leaf(try random([5, 3], seed: 55)), by: tape.leaf(try random([4], seed: 56))))
    }

    func testRaggedAttention() throws {
        // Query 1 reads nothing (a zero row); two heads of width 2 (values of width 3 each).
        let starts = [0, 3, 3, 7, 8]
        let q = try random([4, 4], seed: 67), k = try random([8, 4], seed: 68), v = try random([8, 6], seed: 69)
        try check("ragged attention", [q, k, v]) { t, x in try t.raggedAttention(x[0], keys: x[1], values: x[2], starts: starts, heads: 2) }
        let tape = Tape()
        let out = tape.value(try tape.raggedAttention(tape.leaf(q), keys: tape.leaf(k), values: tape.leaf(v), starts: starts, heads: 2))
        XCTAssertEqual(Array(out.data[6..<12]), [Float](repeating: 0, count: 6))
        // Query 2, head 1 against attention over its own rows.
        let head = try Attention.forward(q: try Tensor(shape: [1, 2], data: Array(q.data[10..<12])),
                                         k: try Tensor(shape: [4, 2], data: (3..<7).flatMap { Array(k.data[($0 * 4 + 2)..<($0 * 4 + 4)]) }),
                                         v: try Tensor(shape: [4, 3], data: (3..<7).flatMap { Array(v.data[($0 * 6 + 3)..<($0 * 6 + 6)]) })).0
        XCTAssertLessThan(try Tensor(shape: [1, 3], data: Array(out.data[15..<18])).maxError(to: head), 1e-5)
        XCTAssertThrowsError(try tape.raggedAttention(tape.leaf(q), keys: tape.leaf(k), values: tape.leaf(v), starts: [0, 3, 2, 7, 8]))
        XCTAssertThrowsError(try tape.raggedAttention(tape.leaf(q), keys: tape.leaf(k), values: tape.leaf(v), starts: starts, heads: 3))
    }

    /// One tree for all heads: with every key in one leaf (a tree of depth 0), TF attention is
    /// dense multi-head attention.
    func testMultiHeadTreeformerWithOneLeafIsDenseAttention() throws {
        let q = try random([14, 6], seed: 64), k = try random([14, 6], seed: 65), v = try random([14, 6], seed: 66)
        let tape = Tape()
        let (lq, lk, lv) = (tape.leaf(q), tape.leaf(k), tape.leaf(v))
        let tree = tape.value(try tape.treeformerAttention(lq, lk, lv, blocks: 2, mode: .tf, leaf: 7, heads: 3).output)
        let dense = tape.value(try tape.blockAttention(lq, lk, lv, blocks: 2, options: AttentionOptions(heads: 3)))
        XCTAssertLessThan(try tree.maxError(to: dense), 1e-5)
        XCTAssertThrowsError(try tape.treeformerAttention(lq, lk, lv, blocks: 2, mode: .tf, leaf: 7, heads: 4))
    }

    func testLearnedTreeformerAttentionMatchesNaiveReference() throws {
        let n = 13, blocks = 2, dim = 4, depth = 2
        let q = try random([n * blocks, dim], seed: 57), k = try random([n * blocks, dim], seed: 58), v = try random([n * blocks, 3], seed: 59)
        let w = try random([3, dim], seed: 60), b = try random([3], seed: 61)
        let queryLeaves = naiveLeaves(q, w, b, depth: depth), keyLeaves = naiveLeaves(k, w, b, depth: depth)
        func under(_ node: Int, _ leaf: Int) -> Bool {
            var x = leaf
            while x > node { x = (x - 1) / 2 }
            return x == node
        }
        for mode in [Treeformer.Mode.tf, .tc] {
            let tape = Tape()
            let tree = LearnedTree(normals: tape.leaf(w), offsets: tape.leaf(b), depth: depth)
            let out = tape.value(try tape.treeformerAttention(tape.leaf(q), tape.leaf(k), tape.leaf(v), blocks: blocks, mode: mode, leaf: 4, tree: tree).output)
            for i in 0..<(n * blocks) {
                let first = i / n * n
                // The attended rows: keys of the query's leaf (TF) or the mean key/value of each
                // non-empty node on its path (TC).
                var rows = [(key: [Float], value: [Float])]()
                var nodes = [queryLeaves[i]]
                if mode == .tc { var x = queryLeaves[i]; while x > 0 { x = (x - 1) / 2; nodes.append(x) } }
                for node in nodes {
                    let members = (first..<(first + n)).filter { mode == .tf ? keyLeaves[$0] == node : under(node, keyLeaves[$0]) }
                    if mode == .tf {
                        for j in members { rows.append((Array(k.data[(j * dim)..<((j + 1) * dim)]), Array(v.data[(j * 3)..<((j + 1) * 3)]))) }
                    } else if !members.isEmpty {
                        let mean = { (t: Tensor, c: Int, width: Int) in members.reduce(Float(0)) { $0 + t.data[$1 * width + c] } / Float(members.count) }
                        rows.append(((0..<dim).map { mean(k, $0, dim) }, (0..<3).map { mean(v, $0, 3) }))
                    }
                }
                let scores = rows.map { row in (0..<dim).reduce(Float(0)) { $0 + row.key[$1] * q.data[i * dim + $1] } / 2 }
                let top = scores.max() ?? 0, exps = scores.map { expf($0 - top) }, total = exps.reduce(0, +)
                for c in 0..<3 {
                    let expected = rows.isEmpty ? 0 : zip(exps, rows).reduce(Float(0)) { $0 + $1.0 * $1.1.value[c] } / total
                    XCTAssertEqual(out.data[i * 3 + c], expected, accuracy: 1e-5, "\(mode) query \(i)")
                }
            }
            try check("learned treeformer \(mode) (values)", [v]) { t, x in
                try t.treeformerAttention(t.leaf(q), t.leaf(k), x[0], blocks: blocks, mode: mode, leaf: 4,
                                          tree: LearnedTree(normals: t.leaf(w), offsets: t.leaf(b), depth: depth)).output
            }
        }
    }

    /// Eight clusters (queries = keys): dense attention stays mostly inside a cluster. Fitted from
    /// random hyperplanes, the co-routing loss should find a tree as good as the PCA split's
    /// (which suits clusters well) and much better than where it started.
    func testCoRoutingFitKeepsDenseNeighboursTogether() throws {
        let dim = 8, perCluster = 8, depth = 3, clusters = 8
        var rng = Xoshiro256(seed: 5)
        let centres = (0..<clusters).map { _ in (0..<dim).map { _ in Float(rng.normal()) * 2 } }
        var points = [Float]()
        for i in 0..<(clusters * perCluster) { for c in 0..<dim { points.append(centres[i % clusters][c] + Float(rng.normal()) * 0.5) } }
        let tokens = try Tensor(shape: [clusters * perCluster, dim], data: points)
        let sample = RoutingSample(queries: tokens, keys: tokens, sequences: 1, heads: 1)
        var store = ParameterStore()
        var w = try Tensor.randn([(1 << depth) - 1, dim], rng: &rng)
        store.add("w", w)
        var optimizer = Optimizer(kind: .adam, schedule: LearningRateSchedule(peak: 0.01))
        var b = try TreeFitting.medianOffsets(normals: w, depth: depth, keys: tokens)
        let dense = try TreeFitting.denseWeights(sample)
        let before = TreeFitting.routingQuality(normals: w, offsets: b, depth: depth, sample, weights: dense)
        var losses = [Double]()
        for _ in 0..<400 {
            let step = try TreeFitting.coRoutingGradient(normals: w, offsets: b, depth: depth, sample,
                                                         pairs: try TreeFitting.strongestKeys(sample, count: 4))
            losses.append(step.loss)
            try optimizer.update(&store, ["w": step.gradient])
            w = try XCTUnwrap(store["w"])
            b = try TreeFitting.medianOffsets(normals: w, depth: depth, keys: tokens)
        }
        let after = TreeFitting.routingQuality(normals: w, offsets: b, depth: depth, sample, weights: dense)
        let pca = Treeformer.route(keys: tokens, depth: depth, split: .pca, seed: 0)
        let pcaQuality = TreeFitting.routingQuality(normals: try Tensor(shape: [7, dim], data: pca.normals), offsets: try Tensor(shape: [7], data: pca.offsets),
                                                       depth: depth, sample, weights: dense)
        XCTAssertLessThan(losses.last ?? 0, losses[0])
        XCTAssertGreaterThan(after.attentionKept, before.attentionKept + 0.1, "kept \(before.attentionKept) -> \(after.attentionKept)")
        XCTAssertGreaterThan(after.attentionKept, pcaQuality.attentionKept - 0.02)
        XCTAssertEqual(after.keysPerQuery, Double(perCluster), accuracy: 0.5, "median offsets keep the leaves balanced")
    }

    func testFitTreesOnAModelIsDeterministicAndBeatsThePCAStart() throws {
        let task = try ListOpsTask(length: 32)
        let dense = try SequenceTransformer.make(vocabulary: 17, classes: 10, dim: 16, layers: 2, heads: 2, maxLength: 32,
                                                 mixer: .dense, projected: 0, seed: 1)
        var trainer = try Trainer(model: dense, task: task, optimizer: Optimizer(kind: .adamw, schedule: LearningRateSchedule(peak: 3e-3)),
                                  batchSize: 8, seed: 2)
        for _ in 0..<20 { _ = try trainer.step() }
        let weights = dense.parameters.names.compactMap { name in dense.parameters[name].map { (name, $0) } }
        func fitted() throws -> (TreeFitting.Report, Model) {
            let model = try SequenceTransformer.make(vocabulary: 17, classes: 10, dim: 16, layers: 2, heads: 2, maxLength: 32,
                                                     mixer: .tf, projected: 0, leaf: 8, split: .learned, seed: 3)
            XCTAssertThrowsError(try model.load(weights), "strict loading needs the tree parameters too")
            let outcome = try model.load(weights, strict: false)
            XCTAssertEqual(outcome.missing, ["blocks.0.tree.weight", "blocks.0.tree.bias", "blocks.1.tree.weight", "blocks.1.tree.bias"])
            XCTAssertEqual(outcome.loaded, weights.count)
            return (try TreeFitting.fit(model, task: task, steps: 30, lr: 0.02, batchSize: 4, neighbours: 32, seed: 4), model)
        }
        let (a, model) = try fitted(), (b, _) = try fitted()
        XCTAssertEqual(a.after.map(\.attentionKept), b.after.map(\.attentionKept))
        for (start, end) in zip(a.initialised, a.after) {
            XCTAssertGreaterThan(end.attentionKept, start.attentionKept)
            XCTAssertLessThan(end.keysPerQuery, 16, "4 leaves of about 8 keys")
        }
        // The fitted model trains end to end with its trees in the loop.
        var tuner = try Trainer(model: model, task: task, optimizer: Optimizer(kind: .adamw, schedule: LearningRateSchedule(peak: 1e-3)),
                                batchSize: 4, seed: 5)
        let before = try XCTUnwrap(model.parameters["blocks.0.tree.weight"])
        _ = try tuner.step()
        XCTAssertNotEqual(model.parameters["blocks.0.tree.weight"], before, "straight-through gradients reach the hyperplanes")
        let pca = try SequenceTransformer.make(vocabulary: 17, classes: 10, dim: 16, layers: 2, heads: 2, maxLength: 32,
                                               mixer: .tf, projected: 0, seed: 3)
        XCTAssertThrowsError(try TreeFitting.fit(pca, task: task, steps: 1, lr: 0.01, batchSize: 2, neighbours: 2, seed: 1))
    }
}

final class EncoderModuleTests: XCTestCase {
    /// With every key in one leaf, a Treeformer encoder is the dense encoder with the same
    /// weights (same names, same seed); a learned-tree encoder needs its length.
    func testTreeformerEncoderWithOneLeafIsTheDenseEncoder() throws {
        let dense = try EncoderModule.make(dim: 12, layers: 2, heads: 3, mixer: .dense, projected: 4, leaf: 16, split: .pca, length: nil, seed: 1)
        let tree = try EncoderModule.make(dim: 12, layers: 2, heads: 3, mixer: .tf, projected: 4, leaf: 16, split: .pca, length: nil, seed: 1)
        XCTAssertEqual(dense.parameters.names, tree.parameters.names)
        var rng = Xoshiro256(seed: 2)
        let x = try Tensor.randn([10, 12], rng: &rng)
        XCTAssertLessThan(try dense.apply(x).maxError(to: try tree.apply(x)), 1e-5)
        XCTAssertThrowsError(try dense.apply(try Tensor.randn([10, 11], rng: &rng)))
        XCTAssertThrowsError(try EncoderModule.make(dim: 12, layers: 1, heads: 3, mixer: .tf, projected: 4, leaf: 4, split: .learned, length: nil, seed: 1))
        let learned = try EncoderModule.make(dim: 12, layers: 1, heads: 3, mixer: .tf, projected: 4, leaf: 4, split: .learned, length: 32, seed: 1)
        XCTAssertEqual(learned.parameters["blocks.0.tree.weight"]?.shape, [7, 12])
        XCTAssertEqual(try learned.apply(x).shape, [10, 12])
        let linformer = try EncoderModule.make(dim: 12, layers: 1, heads: 3, mixer: .linformer, projected: 4, leaf: 4, split: .pca, length: 10, seed: 1)
        XCTAssertEqual(try linformer.apply(x).shape, [10, 12])
        XCTAssertThrowsError(try linformer.apply(try Tensor.randn([9, 12], rng: &rng)))
    }
}
