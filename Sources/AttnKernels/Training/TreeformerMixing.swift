import Foundation

// Treeformer's TF- and TC-Attention (treeformer.md) inside a trained model, for each sequence of
// a stacked batch. The tree is fitted to the sequence's current keys (PCA hyperplanes, median
// offsets: the `split="pca"` routing of the `treeformer` builtin) and is not itself trained;
// gradients flow to q, k and v through the attention over the retrieved keys (TF: the keys in
// the query's leaf) or node means (TC: the nodes on its root-to-leaf path), so TC's gradients
// reach every key through the root.
extension Tape {
    public func treeformerAttention(_ q: Variable, _ k: Variable, _ v: Variable, blocks: Int, mode: Treeformer.Mode,
                                    leaf: Int) throws -> (output: Variable, tokensPerQuery: Double) {
        let queries = value(q), keys = value(k)
        guard queries.rank == 2, keys.rank == 2, blocks >= 1, keys.shape[0] % blocks == 0, queries.shape[0] == keys.shape[0] else {
            throw KernelError.shapeMismatch("treeformer attention needs q and k of the same stacked rows", queries.shape, keys.shape)
        }
        let n = keys.shape[0] / blocks, dim = keys.shape[1]
        let depth = try Treeformer.depth(keys: n, depth: nil, leaf: leaf)
        // Per query, the rows it attends to, each a list of (key row, weight) terms.
        var rowsPerQuery = [[[(Int, Float)]]]()
        for b in 0..<blocks {
            let routing = Treeformer.route(keys: try keys.rows(b * n, n), depth: depth, split: .pca, seed: 0)
            for i in 0..<n {
                let start = (b * n + i) * dim
                let leafNode = routing.leaf(of: queries.data[start..<(start + dim)])
                switch mode {
                case .tf:
                    rowsPerQuery.append(routing.members[leafNode].map { [(b * n + $0, 1)] })
                case .tc:
                    var path = [Int](), node = leafNode
                    while true {
                        if !routing.members[node].isEmpty { path.append(node) }
                        if node == 0 { break }
                        node = (node - 1) / 2
                    }
                    rowsPerQuery.append(path.reversed().map { node in
                        let members = routing.members[node]
                        return members.map { (b * n + $0, 1 / Float(members.count)) }
                    })
                }
            }
        }
        let group = max(1, rowsPerQuery.map(\.count).max() ?? 1)
        var mix = RowMix(), valid = [Bool]()
        for entries in rowsPerQuery {
            for g in 0..<group {
                mix.appendRow(g < entries.count ? entries[g] : [(0, 0)])
                valid.append(g < entries.count)
            }
        }
        let attended = rowsPerQuery.reduce(0) { $0 + $1.count }
        let output = try groupedAttention(q, keys: try mixRows(k, mix), values: try mixRows(v, mix), group: group, valid: valid)
        return (output, Double(attended) / Double(max(1, rowsPerQuery.count)))
    }
}
