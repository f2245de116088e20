import Foundation

/// One learned-tree block's queries and keys [sequences * n, d] as the dense model computes them.
public struct RoutingSample {
    public let queries: Tensor, keys: Tensor
    public let sequences: Int, heads: Int
}

/// How well a tree routes like dense attention, on one batch.
public struct RoutingQuality: Sendable {
    /// Mean over queries of the dense attention weight (heads averaged) on the keys of the
    /// query's own leaf: what TF-attention keeps of the dense attention.
    public var attentionKept: Double
    /// Mean keys in a query's leaf.
    public var keysPerQuery: Double
}

/// Bootstrap 1 of Treeformer's training (treeformer.md): the trees of a model with learned
/// splits are fitted to route each query with the keys dense attention weights most. The
/// model's blocks mix densely meanwhile (its weights are those of a trained dense model), so
/// every block sees what it would in the dense model. Each tree starts as a PCA tree of a batch's
/// pooled keys; then, step by step, the hyperplane directions follow the gradient of a
/// co-routing loss: for each query and each of its `neighbours` strongest keys (weight a, the
/// top weights renormalised), at every node both reach, -a log(p_q p_k + (1 - p_q)(1 - p_k)),
/// p = sigmoid(score / the node's score spread). Directions are kept unit length and offsets at
/// minus the median key score, so leaves stay balanced (as in the PCA split).
public enum TreeFitting {
    public struct Report: Sendable {
        /// The blocks whose trees were fitted ("blocks.0", ...), in order.
        public var trees: [String]
        /// Per learned tree: on a held-out batch, as the model came, after PCA initialisation,
        /// after fitting.
        public var before: [RoutingQuality], initialised: [RoutingQuality], after: [RoutingQuality]
        public var finalLoss: Double
    }

    public static func fit(_ model: Model, task: TrainingTask, steps: Int, lr: Float, batchSize: Int, neighbours: Int,
                           seed: UInt64) throws -> Report {
        guard let architecture = model.architecture as? SequenceTransformer, !architecture.learnedTrees.isEmpty else {
            throw KernelError.invalidArgument("fit_trees needs a model with learned trees: transformer(task, attention=\"tf\" or \"tc\", split=\"learned\")")
        }
        guard steps >= 0, neighbours >= 1, lr > 0 else {
            throw KernelError.invalidArgument("fit_trees needs steps >= 0, neighbours >= 1 and lr > 0")
        }
        try architecture.check(task)
        let trees = architecture.learnedTrees
        var rng = Xoshiro256(seed: seed), heldOutRng = Xoshiro256(seed: seed ^ 0x5EED_F17)
        func samples(_ rng: inout Xoshiro256) throws -> [RoutingSample] {
            try architecture.denseRoutingSamples(try task.checkedBatch(size: batchSize, rng: &rng), model.parameters.bind(to: Tape()))
        }
        func tree(_ index: Int) throws -> (normals: Tensor, offsets: Tensor) {
            guard let w = model.parameters[trees[index].normals], let b = model.parameters[trees[index].offsets] else {
                throw KernelError.invalidArgument("internal: the model lacks its tree parameters")
            }
            return (w, b)
        }
        let heldOut = try samples(&heldOutRng)
        // The held-out batch's dense attention, computed once for the three measurements.
        let heldOutWeights = try heldOut.map { try denseWeights($0) }
        func quality(_ heldOut: [RoutingSample]) throws -> [RoutingQuality] {
            try heldOut.indices.map { i in
                let (w, b) = try tree(i)
                return routingQuality(normals: w, offsets: b, depth: trees[i].depth, heldOut[i], weights: heldOutWeights[i])
            }
        }
        let before = try quality(heldOut)
        let first = try samples(&rng)
        for (i, sample) in first.enumerated() {
            let routing = Treeformer.route(keys: sample.keys, depth: trees[i].depth, split: .pca, seed: 0)
            try model.parameters.set(trees[i].normals, try Tensor(shape: [routing.internalCount, sample.keys.shape[1]], data: routing.normals))
            try model.parameters.set(trees[i].offsets, try Tensor(shape: [routing.internalCount], data: routing.offsets))
        }
        let initialised = try quality(heldOut)
        var optimizer = Optimizer(kind: .adam, schedule: LearningRateSchedule(peak: lr))
        var finalLoss = 0.0
        for _ in 0..<steps {
            try Cancellation.check()
            let batch = try samples(&rng)
            var gradients = [String: Tensor](), loss = 0.0
            for (i, sample) in batch.enumerated() {
                let (w, b) = try tree(i)
                let step = try coRoutingGradient(normals: w, offsets: b, depth: trees[i].depth, sample,
                                                 pairs: try strongestKeys(sample, count: neighbours))
                gradients[trees[i].normals] = step.gradient
                loss += step.loss
            }
            finalLoss = loss
            try optimizer.update(&model.parameters, gradients)
            // Unit directions; offsets at the median of this batch's keys.
            for (i, sample) in batch.enumerated() {
                var (w, _) = try tree(i)
                let dim = w.shape[1]
                for node in 0..<w.shape[0] {
                    let norm = (0..<dim).reduce(Float(0)) { $0 + w.data[node * dim + $1] * w.data[node * dim + $1] }.squareRoot()
                    if norm > 0 { for c in 0..<dim { w.data[node * dim + c] /= norm } }
                }
                try model.parameters.set(trees[i].normals, w)
                try model.parameters.set(trees[i].offsets, try medianOffsets(normals: w, depth: trees[i].depth, keys: sample.keys))
            }
        }
        return Report(trees: trees.map { $0.normals.replacingOccurrences(of: ".tree.weight", with: "") },
                      before: before, initialised: initialised, after: try quality(heldOut), finalLoss: finalLoss)
    }

    /// The dense attention weights (heads averaged) of each query over the keys of its sequence:
    /// [sequences * n, n].
    static func denseWeights(_ sample: RoutingSample) throws -> [Float] {
        let q = sample.queries, k = sample.keys
        let rows = q.shape[0], dim = q.shape[1], n = rows / sample.sequences
        // One row of weights per query: a batch of long sequences could ask for a lot.
        try MemoryLimit.reserve(rows * n)
        let heads = sample.heads, width = dim / heads
        let scale = 1 / Float(width).squareRoot()
        var weights = [Float](repeating: 0, count: rows * n)
        var scores = [Float](repeating: 0, count: n)
        for row in 0..<rows {
            let first = row / n * n
            for h in 0..<heads {
                var top = -Float.infinity
                for j in 0..<n {
                    var dot: Float = 0
                    for c in (h * width)..<((h + 1) * width) { dot += q.data[row * dim + c] * k.data[(first + j) * dim + c] }
                    scores[j] = dot * scale
                    top = max(top, scores[j])
                }
                var sum: Float = 0
                for j in 0..<n { scores[j] = expf(scores[j] - top); sum += scores[j] }
                for j in 0..<n { weights[row * n + j] += scores[j] / sum / Float(heads) }
            }
        }
        return weights
    }

    /// For each query, its `count` strongest keys (row indices into `keys`) with their weights
    /// renormalised to sum to 1.
    static func strongestKeys(_ sample: RoutingSample, count: Int) throws -> [(query: Int, key: Int, weight: Float)] {
        let weights = try denseWeights(sample)
        let rows = sample.queries.shape[0], n = rows / sample.sequences
        var pairs = [(query: Int, key: Int, weight: Float)]()
        for row in 0..<rows {
            let first = row / n * n
            // Ties broken by key index, so the choice is deterministic.
            let top = (0..<n).sorted { (weights[row * n + $0], $1) > (weights[row * n + $1], $0) }.prefix(count)
            let total = top.reduce(Float(0)) { $0 + weights[row * n + $1] }
            for j in top { pairs.append((row, first + j, total > 0 ? weights[row * n + j] / total : 1 / Float(top.count))) }
        }
        return pairs
    }

    /// `weights`: the sample's `denseWeights`.
    static func routingQuality(normals: Tensor, offsets: Tensor, depth: Int, _ sample: RoutingSample, weights: [Float]) -> RoutingQuality {
        let rows = sample.queries.shape[0], n = rows / sample.sequences
        let queryLeaves = Treeformer.hardRoutes(sample.queries, normals: normals, offsets: offsets, depth: depth).leaves
        let keyLeaves = Treeformer.hardRoutes(sample.keys, normals: normals, offsets: offsets, depth: depth).leaves
        var kept = 0.0, keys = 0
        for row in 0..<rows {
            let first = row / n * n
            for j in 0..<n where keyLeaves[first + j] == queryLeaves[row] {
                kept += Double(weights[row * n + j])
                keys += 1
            }
        }
        return RoutingQuality(attentionKept: kept / Double(max(1, rows)), keysPerQuery: Double(keys) / Double(max(1, rows)))
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    /// The co-routing loss (per query) and its gradient with respect to the directions.
    static func coRoutingGradient(normals: Tensor, offsets: Tensor, depth: Int, _ sample: RoutingSample,
                                  pairs: [(query: Int, key: Int, weight: Float)]) throws -> (loss: Double, gradient: Tensor) {
        let q = sample.queries, k = sample.keys, dim = q.shape[1]
        let queryRoutes = Treeformer.hardRoutes(q, normals: normals, offsets: offsets, depth: depth)
        let keyRoutes = Treeformer.hardRoutes(k, normals: normals, offsets: offsets, depth: depth)
        // Each node's spread of key scores sets the sigmoid's scale, so the loss does not
        // depend on how far the tokens lie from the origin.
        let internalCount = normals.shape[0]
        var sums = [Double](repeating: 0, count: internalCount), squares = sums, counts = sums
        // The mean key at each node: the offset follows the keys' median as w moves, so a
        // token's score moves with (z - mean) . dw rather than z . dw.
        var means = [Float](repeating: 0, count: internalCount * dim)
        for (index, (node, s)) in zip(keyRoutes.nodes, keyRoutes.scores).enumerated() {
            (sums[node], squares[node], counts[node]) = (sums[node] + Double(s), squares[node] + Double(s * s), counts[node] + 1)
            let key = index / depth
            for c in 0..<dim { means[node * dim + c] += k.data[key * dim + c] }
        }
        for node in 0..<internalCount where counts[node] > 0 {
            for c in 0..<dim { means[node * dim + c] /= Float(counts[node]) }
        }
        let spread = (0..<internalCount).map { node -> Float in
            guard counts[node] >= 2 else { return 1 }
            let mean = sums[node] / counts[node], variance = squares[node] / counts[node] - mean * mean
            return variance > 1e-12 ? Float(variance.squareRoot()) : 1
        }
        var gradient = try Tensor(zeros: normals.shape), loss = 0.0
        let queries = Float(max(1, q.shape[0]))
        for (row, key, a) in pairs {
            for level in 0..<depth {
                let node = queryRoutes.nodes[row * depth + level]
                guard node == keyRoutes.nodes[key * depth + level] else { break }
                let sq = queryRoutes.scores[row * depth + level], sk = keyRoutes.scores[key * depth + level]
                let pq = sigmoid(sq / spread[node]), pk = sigmoid(sk / spread[node])
                let agree = max(1e-6, pq * pk + (1 - pq) * (1 - pk))
                loss -= Double(a * logf(agree) / queries)
                let gq = -a / agree * (2 * pk - 1) * pq * (1 - pq) / spread[node] / queries
                let gk = -a / agree * (2 * pq - 1) * pk * (1 - pk) / spread[node] / queries
                for c in 0..<dim {
                    gradient.data[node * dim + c] += gq * q.data[row * dim + c] + gk * k.data[key * dim + c] - (gq + gk) * means[node * dim + c]
                }
            }
        }
        return (loss, gradient)
    }

    /// Offsets that split the keys reaching each node at their median score (top-down).
    static func medianOffsets(normals: Tensor, depth: Int, keys: Tensor) throws -> Tensor {
        let internalCount = normals.shape[0], dim = normals.shape[1]
        var offsets = try Tensor(zeros: [internalCount])
        var members = [[Int]](repeating: [], count: 2 * internalCount + 1)
        members[0] = Array(0..<keys.shape[0])
        for node in 0..<internalCount {
            let scores = members[node].map { key in (0..<dim).reduce(Float(0)) { $0 + normals.data[node * dim + $1] * keys.data[key * dim + $1] } }
            let sorted = scores.sorted()
            offsets.data[node] = sorted.isEmpty ? 0 : -sorted[sorted.count / 2]
            for (key, s) in zip(members[node], scores) { members[s + offsets.data[node] >= 0 ? 2 * node + 2 : 2 * node + 1].append(key) }
        }
        return offsets
    }
}
