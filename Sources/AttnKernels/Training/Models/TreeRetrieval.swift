import Foundation

/// ReTreever's retrieval over one batch (tca.md): each function's context is ordered by x and
/// split into a balanced binary tree whose leaves hold `leafSize` points; a node's summary is
/// the mean of its points' embeddings. A query descends from the root choosing one child per
/// level (sampled from softmax(q . summary / sqrt(d)) while training, the best child otherwise)
/// and retrieves the summary of every child it did not choose plus the tokens of its leaf:
/// depth + leafSize vectors instead of the whole context.
///
/// Rows are indexed in the stack [context tokens (count * contextCount); node summaries
/// (count * nodesPerFunction)], which the model builds on the tape, so gradients reach both.
struct TreeRetrieval {
    let count: Int, contextCount: Int, leafSize: Int, depth: Int
    /// Per function, global context rows sorted by x.
    let order: [[Int]]

    struct Plan {
        var retrieved = RowMix()
        var group: Int
        var valid: [Bool] = []
        /// For REINFORCE: one row per (query, level) decision; its two candidate children; the choice.
        var decisionQueries = RowMix()
        var candidates = RowMix()
        var chosen: [Int] = []
    }

    init(contextX: [Float], contextCount: Int, leafSize: Int, count: Int) throws {
        let leaves = contextCount / leafSize
        guard leaves >= 1, contextCount % leafSize == 0, leaves & (leaves - 1) == 0 else {
            throw KernelError.invalidArgument("tree retrieval needs a context of leaf times a power of two points")
        }
        (self.count, self.contextCount, self.leafSize) = (count, contextCount, leafSize)
        depth = leaves.trailingZeroBitCount
        order = (0..<count).map { b in
            (0..<contextCount).map { b * contextCount + $0 }.sorted { (contextX[$0], $0) < (contextX[$1], $1) }
        }
    }

    /// Nodes below the root: 2 + 4 + ... + 2^depth.
    var nodesPerFunction: Int { (1 << (depth + 1)) - 2 }

    /// The summaries' rows: node (level >= 1, j) of function b averages its span of sorted points.
    func summaryMix() -> RowMix {
        var mix = RowMix()
        for b in 0..<count {
            for level in 1...max(1, depth) where depth >= 1 {
                let span = contextCount >> level
                for j in 0..<(1 << level) {
                    mix.appendRow((0..<span).map { (order[b][j * span + $0], 1 / Float(span)) })
                }
            }
        }
        return mix
    }

    /// Summaries by a Transformer block over children, bottom-up: the nodes of the deepest level
    /// read their leaf's points, every other node its two children's summaries; each summary is
    /// the mean of the block's outputs over the children. Rows come out in `summaryMix`'s order.
    /// Without `backpropagating`, each level's input enters the tape as a constant (the authors'
    /// bptt=False): the block learns from every level's use of its outputs, but no gradient goes
    /// down the tree to the levels below or into the encoder.
    func transformerSummaries(_ context: Tape.Variable, block: TransformerBlock, backpropagating: Bool,
                              _ p: BoundParameters) throws -> Tape.Variable {
        let t = p.tape
        /// The block over groups of `size` consecutive rows, then each group's mean.
        func aggregate(_ rows: Tape.Variable, groups: Int, size: Int) throws -> Tape.Variable {
            let mixed = try block(backpropagating ? rows : t.leaf(t.value(rows)), blocks: groups, p)
            var mean = RowMix()
            for g in 0..<groups { mean.appendRow((0..<size).map { (g * size + $0, 1 / Float(size)) }) }
            return try t.mixRows(mixed, mean)
        }
        // Each function's points in leaf order: node j of the deepest level owns rows j*leaf..<(j+1)*leaf.
        var leafRows = [Int]()
        for b in 0..<count { leafRows += order[b] }
        // levels[L - 1]: level L's summaries, rows (function, node) in order.
        var levels = [try aggregate(try t.mixRows(context, RowMix(gather: leafRows)), groups: count << depth, size: leafSize)]
        for level in stride(from: depth - 1, through: 1, by: -1) {
            // Node j's children are rows 2j and 2j + 1 of the level below: consecutive pairs.
            levels.insert(try aggregate(levels[0], groups: count << level, size: 2), at: 0)
        }
        // summaryMix's order: per function, level 1 to depth, nodes in order.
        var layout = [Int](), offsets = [0]
        for level in 1...depth { offsets.append(offsets[level - 1] + (count << level)) }
        for b in 0..<count {
            for level in 1...depth { for j in 0..<(1 << level) { layout.append(offsets[level - 1] + b * (1 << level) + j) } }
        }
        return try t.mixRows(try t.stackRows(levels), RowMix(gather: layout))
    }

    func summaryRow(_ b: Int, level: Int, _ j: Int) -> Int {
        count * contextCount + b * nodesPerFunction + (1 << level) - 2 + j
    }

    /// Descends the tree for every query; `stacked` holds the values of the stack described above.
    func plan(queries: Tensor, queriesPerFunction: Int, stacked: Tensor, sample: Bool, rng: inout Xoshiro256) -> Plan {
        let dim = queries.shape[1]
        let scale = 1 / Float(max(1, dim)).squareRoot()
        var plan = Plan(group: depth + leafSize)
        func score(_ query: Int, _ row: Int) -> Float {
            var dot: Float = 0
            for c in 0..<dim { dot += queries.data[query * dim + c] * stacked.data[row * dim + c] }
            return dot * scale
        }
        for query in 0..<queries.shape[0] {
            let b = query / queriesPerFunction
            var node = 0
            for level in 1...max(1, depth) where depth >= 1 {
                let left = summaryRow(b, level: level, 2 * node), right = left + 1
                let (sLeft, sRight) = (score(query, left), score(query, right))
                var pick: Int
                if sample {
                    let pRight = 1 / (1 + expf(sLeft - sRight))
                    pick = rng.uniformFloat() < pRight ? 1 : 0
                } else {
                    pick = sRight > sLeft ? 1 : 0
                }
                plan.retrieved.appendRow([(pick == 1 ? left : right, 1)])
                plan.decisionQueries.appendRow([(query, 1)])
                plan.candidates.appendRow([(left, 1)])
                plan.candidates.appendRow([(right, 1)])
                plan.chosen.append(pick)
                node = 2 * node + pick
            }
            for i in 0..<leafSize { plan.retrieved.appendRow([(order[b][node * leafSize + i], 1)]) }
            plan.valid += [Bool](repeating: true, count: depth + leafSize)
        }
        return plan
    }
}
