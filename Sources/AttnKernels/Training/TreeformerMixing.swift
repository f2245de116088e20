import Foundation

// Treeformer's TF- and TC-Attention (treeformer.md) inside a trained model, for each sequence of
// a stacked batch. Without a learned tree, a tree is fitted to each sequence's current keys (PCA
// hyperplanes, median offsets: the `split="pca"` routing of the `treeformer` builtin) and is not
// itself trained; gradients flow to q, k and v through the attention over the retrieved keys
// (TF: the keys in the query's leaf) or node means (TC: the nodes on its root-to-leaf path), so
// TC's gradients reach every key through the root. With a learned tree (`split="learned"`), one
// tree of hyperplanes, a parameter of the layer, routes queries and keys of every sequence, and
// its straight-through gates (TapeTreeRouting.swift) scale each key's value and each query's
// output, so the loss trains the hyperplanes too. With several heads, one tree routes the whole
// query and key vectors and each head attends, with its own columns, to the same retrieved rows:
// with every key in one leaf, TF is exactly dense multi-head attention.
extension Tape {
    public func treeformerAttention(_ q: Variable, _ k: Variable, _ v: Variable, blocks: Int, mode: Treeformer.Mode,
                                    leaf: Int, heads: Int = 1, tree: LearnedTree? = nil,
                                    logCount: Bool = false) throws -> (output: Variable, tokensPerQuery: Double) {
        let queries = value(q), keys = value(k)
        guard queries.rank == 2, keys.rank == 2, blocks >= 1, keys.shape[0] % blocks == 0, queries.shape[0] == keys.shape[0] else {
            throw KernelError.shapeMismatch("treeformer attention needs q and k of the same stacked rows", queries.shape, keys.shape)
        }
        let n = keys.shape[0] / blocks, dim = keys.shape[1]
        guard heads >= 1, dim % heads == 0, value(v).rank == 2, value(v).shape[1] % heads == 0 else {
            throw KernelError.invalidArgument("treeformer attention: heads=\(heads) must divide the widths of q, k and v")
        }
        var learned: (queryLeaves: [Int], keyLeaves: [Int], queryGate: Variable, keyGate: Variable)?
        if let tree {
            let routedQueries = try route(q, through: tree), routedKeys = try route(k, through: tree)
            learned = (routedQueries.leaves, routedKeys.leaves, routedQueries.gate, routedKeys.gate)
        }
        let depth = try tree?.depth ?? Treeformer.depth(keys: n, depth: nil, leaf: leaf)
        // Per query, the rows it attends to, each a list of (key row, weight) terms.
        var rowsPerQuery = [[[(Int, Float)]]]()
        for b in 0..<blocks {
            // The sequence's keys under every node (local indices) and each query's leaf.
            let members: [[Int]], queryLeaves: [Int]
            if let learned {
                members = Treeformer.members(leaves: Array(learned.keyLeaves[(b * n)..<((b + 1) * n)]), depth: depth)
                queryLeaves = Array(learned.queryLeaves[(b * n)..<((b + 1) * n)])
            } else {
                let routing = Treeformer.route(keys: try keys.rows(b * n, n), depth: depth, split: .pca, seed: 0)
                members = routing.members
                queryLeaves = (0..<n).map { i in routing.leaf(of: queries.data[((b * n + i) * dim)..<((b * n + i + 1) * dim)]) }
            }
            for leafNode in queryLeaves {
                switch mode {
                case .tf:
                    rowsPerQuery.append(members[leafNode].map { [(b * n + $0, 1)] })
                case .tc, .tftc:
                    // Node means (a row mixing the node's keys); tftc adds the leaf's keys.
                    var rows = Treeformer.meanNodes(leaf: leafNode, members: members, mode: mode).map { node in
                        members[node].map { (b * n + $0, 1 / Float(members[node].count)) }
                    }
                    if mode == .tftc { rows += members[leafNode].map { [(b * n + $0, 1)] } }
                    rowsPerQuery.append(rows)
                }
            }
        }
        var mix = RowMix(), starts = [0], bias = [Float]()
        for entries in rowsPerQuery {
            for entry in entries {
                mix.appendRow(entry)
                // A node mean (several terms) stands for its keys: log(count) on its score.
                if logCount { bias.append(logf(Float(entry.count))) }
            }
            starts.append(mix.rowCount)
        }
        let attended = mix.rowCount
        let gatedValues = try learned.map { try scaleRows(v, by: $0.keyGate) } ?? v
        var output = try raggedAttention(q, keys: try mixRows(k, mix), values: try mixRows(gatedValues, mix), starts: starts, heads: heads,
                                         scoreBias: logCount ? bias : nil)
        if let learned { output = try scaleRows(output, by: learned.queryGate) }
        return (output, Double(attended) / Double(max(1, rowsPerQuery.count)))
    }
}

extension Treeformer {
    /// For leaves given per key (heap node indices of a tree of `depth`), the keys under every
    /// node, in key order.
    public static func members(leaves: [Int], depth: Int) -> [[Int]] {
        var members = [[Int]](repeating: [], count: (1 << (depth + 1)) - 1)
        for (key, leaf) in leaves.enumerated() {
            var node = leaf
            while true {
                members[node].append(key)
                if node == 0 { break }
                node = (node - 1) / 2
            }
        }
        return members
    }
}
