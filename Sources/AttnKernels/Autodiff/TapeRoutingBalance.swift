import Foundation

// A balance term for learned Treeformer trees (docs/results.md: without one, the leaves drift out
// of balance while the task loss trains the hyperplanes). Rows z go down the tree by their hard
// routes (TapeTreeRouting.swift); at every internal node n that c_n of the R rows visit, p_right
// = sigmoid(s / temperature) is each visitor's soft probability of going right, and
//   loss = sum_n (c_n / R) (mean p_right - 1/2)^2,
// zero when every node's soft split is even, weighted by how many rows reach the node. Only the
// hyperplanes (normals, offsets) receive its gradient: it moves the splits to the rows, never
// the rows (the keys carry the task's information) to the splits.
extension Tape {
    public func routingBalance(_ z: Variable, through tree: LearnedTree, temperature: Float = 1) throws -> Variable {
        let (x, w, b) = try routingOperands(z, tree, temperature: temperature)
        let depth = tree.depth, internalCount = (1 << depth) - 1
        let (rows, dim) = (x.shape[0], x.shape[1])
        guard rows > 0 else { return leaf(try Tensor(zeros: [1])) }
        let (visited, scores, _) = Treeformer.hardRoutes(x, normals: w, offsets: b, depth: depth)
        let right = scores.map { 1 / (1 + expf(-$0 / temperature)) }
        var visits = [Int](repeating: 0, count: internalCount), rightSum = [Float](repeating: 0, count: internalCount)
        for i in 0..<visited.count {
            visits[visited[i]] += 1
            rightSum[visited[i]] += right[i]
        }
        var loss: Float = 0
        var excess = [Float](repeating: 0, count: internalCount)
        for n in 0..<internalCount where visits[n] > 0 {
            excess[n] = rightSum[n] / Float(visits[n]) - 0.5
            loss += Float(visits[n]) / Float(rows) * excess[n] * excess[n]
        }
        return record(try Tensor(shape: [1], data: [loss])) { up, accumulate in
            var dw = try Tensor(zeros: w.shape), db = try Tensor(zeros: b.shape)
            // d loss / d s = (c_n / R) 2 excess_n (1 / c_n) p (1 - p) / T = 2 excess_n p (1 - p) / (R T).
            for r in 0..<rows {
                for level in 0..<depth {
                    let i = r * depth + level, node = visited[i], p = right[i]
                    let ds = up.data[0] * 2 * excess[node] * p * (1 - p) / (Float(rows) * temperature)
                    db.data[node] += ds
                    for c in 0..<dim { dw.data[node * dim + c] += ds * x.data[r * dim + c] }
                }
            }
            try accumulate(tree.normals, dw)
            try accumulate(tree.offsets, db)
        }
    }
}
