import Foundation

// Tree Cross Attention (tca.md): each query descends the tree greedily, collecting the
// unexpanded siblings' summaries along its path and, at the bottom, the chosen leaf's tokens;
// it then attends over that set S, |S| = (b-1) k + P. `depth` stops the descent early (S ends
// with the summary of the node reached); `beam` keeps the w best nodes per level (w = 1 is the
// paper; w >= number of leaves is exact cross attention). Queries are independent: fixed chunks
// of queries run in parallel, so results do not depend on the thread count.
public struct TreeAttentionResult {
    public var output: Tensor
    /// Mean |S| per query.
    public var tokens: Double
    public var flops: Double
    /// Per query, the index of the (best) node where the descent ended: a leaf at full depth.
    public var leaves: [Int]
}

public enum TreeCrossAttention {
    static let queryChunk = 16

    public static func forward(q: Tensor, tree: TensorTree, depth: Int? = nil, beam: Int = 1, heads: Int = 1, scale: Float? = nil) throws -> TreeAttentionResult {
        guard q.rank == 2 else { throw KernelError.invalidShape("tca needs queries as a matrix [M, d], got shape \(formatShape(q.shape))") }
        guard q.shape[1] == tree.dim else {
            throw KernelError.shapeMismatch("tca needs queries with the tree's dimension d = \(tree.dim)", q.shape, [tree.count, tree.dim])
        }
        guard beam >= 1 else { throw KernelError.invalidArgument("tca beam must be at least 1, got \(beam)") }
        guard heads >= 1, tree.dim % heads == 0 else {
            throw KernelError.invalidArgument("heads=\(heads) must be at least 1 and divide d = \(tree.dim)")
        }
        if let depth, depth < 0 { throw KernelError.invalidArgument("tca depth must be at least 0, got \(depth)") }
        let stop = min(depth ?? tree.depth, tree.depth)
        let m = q.shape[0], d = tree.dim
        let headDim = d / heads
        let scale = scale ?? (headDim > 0 ? 1 / Float(headDim).squareRoot() : 1)
        var out = try Tensor(zeros: [m, d])
        var setSizes = [Int](repeating: 0, count: m)
        var scored = [Int](repeating: 0, count: m)
        var ends = [Int](repeating: 0, count: m)
        let chunks = (m + queryChunk - 1) / queryChunk
        out.data.withUnsafeMutableBufferPointer { ob in
            setSizes.withUnsafeMutableBufferPointer { sizes in
                scored.withUnsafeMutableBufferPointer { scoredCount in
                    ends.withUnsafeMutableBufferPointer { endNodes in
                        let io = SearchIO(out: ob.baseAddress, sizes: sizes.baseAddress, scored: scoredCount.baseAddress, ends: endNodes.baseAddress)
                        Parallel.forEach(chunks: chunks) { chunk in
                            if Cancellation.isRequested { return }
                            for row in (chunk * queryChunk)..<min(m, (chunk + 1) * queryChunk) {
                                search(q: q, row: row, tree: tree, stop: stop, beam: beam, heads: heads, scale: scale, io: io)
                            }
                        }
                    }
                }
            }
        }
        try Cancellation.check()
        let totalSet = setSizes.reduce(0, +), totalScored = scored.reduce(0, +)
        return TreeAttentionResult(output: out, tokens: m == 0 ? 0 : Double(totalSet) / Double(m),
                                   flops: 2 * Double(d) * Double(totalScored) + 4 * Double(d) * Double(totalSet), leaves: ends)
    }

    struct SearchIO: @unchecked Sendable {
        let out: UnsafeMutablePointer<Float>?
        let sizes: UnsafeMutablePointer<Int>?
        let scored: UnsafeMutablePointer<Int>?
        let ends: UnsafeMutablePointer<Int>?
    }

    /// Scaled dot products of the query with a row, one per head.
    static func headScores(_ query: ArraySlice<Float>, _ rows: Tensor, _ row: Int, heads: Int, scale: Float) -> [Float] {
        let d = rows.shape[1], headDim = d / heads
        var scores = [Float](repeating: 0, count: heads)
        let base = query.startIndex
        for h in 0..<heads {
            var dot: Float = 0
            for c in (h * headDim)..<((h + 1) * headDim) { dot += query[base + c] * rows.data[row * d + c] }
            scores[h] = dot * scale
        }
        return scores
    }

    static func search(q: Tensor, row: Int, tree: TensorTree, stop: Int, beam: Int, heads: Int, scale: Float, io: SearchIO) {
        let d = tree.dim, b = tree.branch
        let query = q.data[(row * d)..<((row + 1) * d)]
        // The retrieved set S as (level, node) pairs; level == tree.depth + 1 marks a token.
        var set = [(level: Int, index: Int)]()
        var frontier = [0]
        var scoredCount = 0
        if stop >= 1 {
            for level in 1...stop {
                var candidates = [Int]()
                for parent in frontier {
                    for child in (parent * b)..<(parent * b + b) where !tree.nodeIsPadding[level][child] { candidates.append(child) }
                }
                scoredCount += candidates.count
                // Attention weights over the candidates, per head, averaged over heads.
                var weights = [Float](repeating: 0, count: candidates.count)
                let logits = candidates.map { headScores(query, tree.levels[level], $0, heads: heads, scale: scale) }
                for h in 0..<heads {
                    let top = logits.map { $0[h] }.max() ?? 0
                    let exps = logits.map { expf($0[h] - top) }
                    let total = exps.reduce(0, +)
                    for i in candidates.indices { weights[i] += exps[i] / total / Float(heads) }
                }
                // Keep the `beam` best (ties: lower index first); the rest join S.
                let ranked = candidates.indices.sorted { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && candidates[$0] < candidates[$1]) }
                let kept = Set(ranked.prefix(beam))
                for i in candidates.indices where !kept.contains(i) { set.append((level, candidates[i])) }
                frontier = ranked.prefix(beam).map { candidates[$0] }
            }
        }
        if stop == tree.depth {
            for leaf in frontier {
                for position in (leaf * tree.leafSize)..<((leaf + 1) * tree.leafSize) where !tree.tokenIsPadding[position] {
                    set.append((tree.depth + 1, position))
                }
            }
        } else {
            for node in frontier { set.append((stop, node)) }
        }
        // Attend over S, per head.
        let headDim = d / heads
        let rowsOf: ((level: Int, index: Int)) -> (Tensor, Int) = { item in
            item.level == tree.depth + 1 ? (tree.tokens, item.index) : (tree.levels[item.level], item.index)
        }
        guard let out = io.out else { return }
        for h in 0..<heads {
            let logits = set.map { item -> Float in
                let (rows, r) = rowsOf(item)
                var dot: Float = 0
                for c in (h * headDim)..<((h + 1) * headDim) { dot += query[query.startIndex + c] * rows.data[r * d + c] }
                return dot * scale
            }
            let top = logits.max() ?? 0
            let exps = logits.map { expf($0 - top) }
            let total = exps.reduce(0, +)
            for (i, item) in set.enumerated() {
                let (rows, r) = rowsOf(item)
                let weight = exps[i] / total
                for c in (h * headDim)..<((h + 1) * headDim) { out[row * d + c] += weight * rows.data[r * d + c] }
            }
        }
        io.sizes?[row] = set.count
        io.scored?[row] = scoredCount
        io.ends?[row] = frontier.first ?? 0
    }
}
