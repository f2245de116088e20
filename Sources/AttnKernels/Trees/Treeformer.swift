import Foundation

// Treeformer's TF- and TC-Attention (treeformer.md). A binary decision tree of depth h is fitted
// to the keys: each internal node (heap order: children 2i+1, 2i+2) has a hyperplane (w, b) and a
// token z goes left when w.z + b < 0. Without training, w is the leading principal direction of
// the keys reaching the node (`pca`, by power iteration from a fixed start) or a seeded Gaussian
// (`random`); b = -median projection of those keys, so leaves are balanced. Queries are routed by
// the same tree.
//   TF: query i attends to the keys in its own leaf (an empty leaf gives a zero row).
//   TC: every node keeps the mean key, mean value and count of the keys routed through it; query
//       i attends to the non-empty nodes on its root-to-leaf path (h + 1 of them).
//   TF + TC (`tftc`): the node means of the path above the leaf, and the leaf's own keys.
// With `logCount`, a node mean's score gains log(count): the mean then weighs as much as its
// `count` keys would if they all had the mean's score (the spec's log-count variant).
public enum Treeformer {
    public enum Mode: String, Sendable, CaseIterable { case tf, tc, tftc }
    public enum Split: String, Sendable { case pca, random }

    public struct Result {
        public var output: Tensor
        public var tokens: Double
        public var empty: Int
        public var flops: Double
        public var depth: Int
        /// The fitted hyperplanes, node by node in heap order: w (d values) and b.
        public var normals: [Float]
        public var offsets: [Float]
    }

    public static let maxDepth = 24
    public static let defaultLeaf = 32

    public static func depth(keys n: Int, depth: Int?, leaf: Int?) throws -> Int {
        if let depth {
            guard (0...maxDepth).contains(depth) else { throw KernelError.invalidArgument("treeformer depth must be 0 to \(maxDepth), got \(depth)") }
            return depth
        }
        let leaf = leaf ?? defaultLeaf
        guard leaf >= 1 else { throw KernelError.invalidArgument("treeformer leaf size must be at least 1, got \(leaf)") }
        var h = 0
        while h < maxDepth && (n + (1 << h) - 1) >> h > leaf { h += 1 }
        return h
    }

    public static func forward(q: Tensor, k: Tensor, v: Tensor, mode: Mode, depth: Int? = nil, leaf: Int? = nil,
                               split: Split = .pca, seed: UInt64 = 0, logCount: Bool = false) throws -> Result {
        guard !logCount || mode != .tf else {
            throw KernelError.invalidArgument("log_count weights node means, which mode=\"tf\" does not read; use mode=\"tc\" or \"tftc\"")
        }
        for (name, t) in [("q", q), ("k", k), ("v", v)] where t.rank != 2 {
            throw KernelError.invalidShape("treeformer needs `\(name)` to be a matrix [tokens, dim], got shape \(formatShape(t.shape))")
        }
        guard q.shape[1] == k.shape[1] else { throw KernelError.shapeMismatch("treeformer needs q and k with the same last dimension", q.shape, k.shape) }
        guard k.shape[0] == v.shape[0] else { throw KernelError.shapeMismatch("treeformer needs k and v with the same number of tokens", k.shape, v.shape) }
        let n = k.shape[0], m = q.shape[0], d = q.shape[1], dv = v.shape[1]
        guard n >= 1 else { throw KernelError.invalidArgument("treeformer needs at least one key") }
        let h = try Treeformer.depth(keys: n, depth: depth, leaf: leaf)
        let nodes = (1 << (h + 1)) - 1
        try MemoryLimit.reserve(nodes * (2 * d + dv + 2) + m * dv)

        let routing = Treeformer.route(keys: k, depth: h, split: split, seed: seed)
        let members = routing.members
        func leafOf(_ z: ArraySlice<Float>) -> Int { routing.leaf(of: z) }
        let scale = d > 0 ? 1 / Float(d).squareRoot() : 1
        var out = try Tensor(zeros: [m, dv])
        var attended = 0, empty = 0
        // Node statistics for TC: mean key, mean value (members already hold every node's keys).
        var meanKeys = [Float](), meanValues = [Float]()
        if mode != .tf {
            meanKeys = [Float](repeating: 0, count: nodes * d)
            meanValues = [Float](repeating: 0, count: nodes * dv)
            for node in 0..<nodes where !members[node].isEmpty {
                let inverse = 1 / Float(members[node].count)
                for key in members[node] {
                    for c in 0..<d { meanKeys[node * d + c] += k.data[key * d + c] * inverse }
                    for c in 0..<dv { meanValues[node * dv + c] += v.data[key * dv + c] * inverse }
                }
            }
        }
        for row in 0..<m {
            let query = q.data[(row * d)..<((row + 1) * d)]
            let leafNode = leafOf(query)
            // The rows attended: (key vectors, value vectors, index) triples.
            var keyRows = [(UnsafeBufferPointer<Float>.Index, Bool)]()
            switch mode {
            case .tf:
                keyRows = members[leafNode].map { ($0, false) }
            case .tc, .tftc:
                keyRows = Treeformer.meanNodes(leaf: leafNode, members: members, mode: mode).map { ($0, true) }
                if mode == .tftc { keyRows += members[leafNode].map { ($0, false) } }
            }
            if keyRows.isEmpty {
                empty += 1
                continue
            }
            attended += keyRows.count
            let logits = keyRows.map { item -> Float in
                var dot: Float = 0
                for c in 0..<d { dot += query[query.startIndex + c] * (item.1 ? meanKeys[item.0 * d + c] : k.data[item.0 * d + c]) }
                return dot * scale + (logCount && item.1 ? logf(Float(members[item.0].count)) : 0)
            }
            let top = logits.max() ?? 0
            let exps = logits.map { expf($0 - top) }
            let total = exps.reduce(0, +)
            for (i, item) in keyRows.enumerated() {
                let weight = exps[i] / total
                for c in 0..<dv { out.data[row * dv + c] += weight * (item.1 ? meanValues[item.0 * dv + c] : v.data[item.0 * dv + c]) }
            }
        }
        let routingFlops = Double(m + n) * Double(h) * 2 * Double(d)
        return Result(output: out, tokens: m == 0 ? 0 : Double(attended) / Double(m), empty: empty,
                      flops: routingFlops + 2 * Double(attended) * Double(d + dv), depth: h,
                      normals: routing.normals, offsets: routing.offsets)
    }

    /// The nodes whose mean a query in `leaf` reads, root first: the non-empty nodes on its
    /// path from the root to the leaf (tc) or to the leaf's parent (tftc, which reads the leaf's
    /// keys themselves). TF reads none.
    public static func meanNodes(leaf: Int, members: [[Int]], mode: Mode) -> [Int] {
        guard mode != .tf, mode == .tc || leaf > 0 else { return [] }
        var path = [Int](), node = mode == .tc ? leaf : (leaf - 1) / 2
        while true {
            if !members[node].isEmpty { path.append(node) }
            if node == 0 { break }
            node = (node - 1) / 2
        }
        return path.reversed()
    }

    /// A fitted tree: hyperplanes per internal node (heap order) and the keys reaching each node.
    public struct Routing: Sendable {
        public let depth: Int, dim: Int
        public let normals: [Float], offsets: [Float]
        public let members: [[Int]]

        public var internalCount: Int { (1 << depth) - 1 }

        func goesLeft(_ node: Int, _ z: ArraySlice<Float>) -> Bool {
            var s = offsets[node]
            let base = z.startIndex
            for c in 0..<dim { s += normals[node * dim + c] * z[base + c] }
            return s < 0
        }

        /// The leaf node (heap index) a token is routed to.
        public func leaf(of z: ArraySlice<Float>) -> Int {
            var node = 0
            while node < internalCount { node = goesLeft(node, z) ? 2 * node + 1 : 2 * node + 2 }
            return node
        }
    }

    /// Fits the hyperplanes top-down to the keys [n, d], routing the keys as it goes.
    public static func route(keys k: Tensor, depth h: Int, split: Split, seed: UInt64) -> Routing {
        let n = k.shape[0], d = k.shape[1]
        let internalCount = (1 << h) - 1, nodes = (1 << (h + 1)) - 1
        var normals = [Float](repeating: 0, count: internalCount * d)
        var offsets = [Float](repeating: 0, count: internalCount)
        var members = [[Int]](repeating: [], count: nodes)
        members[0] = Array(0..<n)
        var rng = Xoshiro256(seed: seed)
        for node in 0..<internalCount {
            let keys = members[node]
            var w = [Float](repeating: 0, count: d)
            switch split {
            case .random: for c in 0..<d { w[c] = Float(rng.normal()) }
            case .pca: w = principalDirection(k, keys)
            }
            let projections = keys.map { key in (0..<d).reduce(Float(0)) { $0 + w[$1] * k.data[key * d + $1] } }
            let sorted = projections.sorted()
            let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
            for c in 0..<d { normals[node * d + c] = w[c] }
            offsets[node] = -median
            // Keys take the same side test as queries will (same arithmetic, same order).
            let partial = Routing(depth: h, dim: d, normals: normals, offsets: offsets, members: [])
            for key in keys {
                members[partial.goesLeft(node, k.data[(key * d)..<((key + 1) * d)]) ? 2 * node + 1 : 2 * node + 2].append(key)
            }
        }
        return Routing(depth: h, dim: d, normals: normals, offsets: offsets, members: members)
    }

    /// Leading principal direction of the given keys (power iteration, 30 steps, fixed start),
    /// estimated from at most `pcaSample` of them (evenly strided) so that fitting stays
    /// O(N d) per level however many keys reach a node.
    static let pcaSample = 1024

    static func principalDirection(_ k: Tensor, _ allKeys: [Int]) -> [Float] {
        let d = k.shape[1]
        let stride = max(1, allKeys.count / pcaSample)
        let keys = stride == 1 ? allKeys : Swift.stride(from: 0, to: allKeys.count, by: stride).map { allKeys[$0] }
        var w = (0..<d).map { Float(1) + Float($0) * 1e-3 }
        guard keys.count >= 2 else { return w }
        var mean = [Double](repeating: 0, count: d)
        for key in keys { for c in 0..<d { mean[c] += Double(k.data[key * d + c]) } }
        for c in 0..<d { mean[c] /= Double(keys.count) }
        for _ in 0..<30 {
            var next = [Double](repeating: 0, count: d)
            for key in keys {
                var dot = 0.0
                for c in 0..<d { dot += (Double(k.data[key * d + c]) - mean[c]) * Double(w[c]) }
                for c in 0..<d { next[c] += dot * (Double(k.data[key * d + c]) - mean[c]) }
            }
            let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm == 0 { break }
            w = next.map { Float($0 / norm) }
        }
        return w
    }
}
