import Foundation

// Routing through learned hyperplanes with straight-through gradients (treeformer.md's "dense
// gradient trees"). Forward: row z of a matrix goes down a tree of depth h (heap order: children
// 2n+1, 2n+2), right where w_n . z + b_n >= 0, left otherwise: the hard route, the same in
// training and inference. The gate g = prod p_n / stopgrad(prod p_n), with p_n = sigmoid(dir_n
// s_n / temperature) the probability of the branch taken at node n (dir = +1 right, -1 left),
// equals 1, so multiplying an attention term by it changes nothing forward; its gradient is that
// of the path's log-probability, d g / d s_n = dir_n (1 - p_n) / temperature, which tells every
// hyperplane on the path whether sending the token more firmly its way would lower the loss.

/// A tree of learned hyperplanes: `normals` [2^depth - 1, d] and `offsets` [2^depth - 1].
public struct LearnedTree {
    public let normals: Tape.Variable
    public let offsets: Tape.Variable
    public let depth: Int

    public init(normals: Tape.Variable, offsets: Tape.Variable, depth: Int) {
        (self.normals, self.offsets, self.depth) = (normals, offsets, depth)
    }
}

extension Tape {
    /// Each row's leaf (a heap node index, 2^depth - 1 ..< 2^(depth+1) - 1) and the
    /// straight-through gate [rows], all ones.
    public func route(_ z: Variable, through tree: LearnedTree, temperature: Float = 1) throws -> (leaves: [Int], gate: Variable) {
        let (x, w, b) = try routingOperands(z, tree, temperature: temperature)
        let depth = tree.depth
        let (rows, dim) = (x.shape[0], x.shape[1])
        let (visited, scores, leaves) = Treeformer.hardRoutes(x, normals: w, offsets: b, depth: depth)
        let gate = record(try Tensor(shape: [rows], repeating: 1)) { up, accumulate in
            var dz = try Tensor(zeros: x.shape), dw = try Tensor(zeros: w.shape), db = try Tensor(zeros: b.shape)
            for r in 0..<rows where up.data[r] != 0 {
                for level in 0..<depth {
                    let node = visited[r * depth + level], s = scores[r * depth + level]
                    let direction: Float = s >= 0 ? 1 : -1
                    let taken = 1 / (1 + expf(-direction * s / temperature))
                    let ds = up.data[r] * direction * (1 - taken) / temperature
                    db.data[node] += ds
                    for c in 0..<dim {
                        dw.data[node * dim + c] += ds * x.data[r * dim + c]
                        dz.data[r * dim + c] += ds * w.data[node * dim + c]
                    }
                }
            }
            try accumulate(z, dz)
            try accumulate(tree.normals, dw)
            try accumulate(tree.offsets, db)
        }
        return (leaves, gate)
    }

    /// The rows' and the tree's values, checked: hyperplanes [2^depth - 1, d] and offsets
    /// [2^depth - 1] for rows [n, d], and a positive temperature.
    func routingOperands(_ z: Variable, _ tree: LearnedTree, temperature: Float) throws -> (rows: Tensor, normals: Tensor, offsets: Tensor) {
        let x = value(z), w = value(tree.normals), b = value(tree.offsets)
        let depth = tree.depth, internalCount = (1 << depth) - 1
        guard (1...Treeformer.maxDepth).contains(depth), x.rank == 2, w.shape == [internalCount, x.shape[1]], b.shape == [internalCount] else {
            throw KernelError.shapeMismatch("a learned tree of depth \(depth) needs hyperplanes [\(internalCount), d] and offsets [\(internalCount)] for rows [n, d]",
                                            w.shape, x.shape)
        }
        guard temperature > 0 else { throw KernelError.invalidArgument("routing temperature must be positive, got \(temperature)") }
        return (x, w, b)
    }

    /// Row r of x [rows, c] times factor[r] (factor [rows]).
    public func scaleRows(_ x: Variable, by factor: Variable) throws -> Variable {
        let input = value(x), f = value(factor)
        guard input.rank == 2, f.shape == [input.shape[0]] else {
            throw KernelError.shapeMismatch("scaleRows needs one factor per row", f.shape, input.shape)
        }
        let (rows, cols) = (input.shape[0], input.shape[1])
        var out = input
        for r in 0..<rows { for c in 0..<cols { out.data[r * cols + c] *= f.data[r] } }
        return record(out) { up, accumulate in
            var dx = try Tensor(zeros: input.shape), df = try Tensor(zeros: f.shape)
            for r in 0..<rows {
                for c in 0..<cols {
                    dx.data[r * cols + c] = up.data[r * cols + c] * f.data[r]
                    df.data[r] += up.data[r * cols + c] * input.data[r * cols + c]
                }
            }
            try accumulate(x, dx)
            try accumulate(factor, df)
        }
    }
}

extension Treeformer {
    /// Rows of z [rows, d] down the hyperplanes (heap order; right where w.z + b >= 0): per row
    /// and level the node visited and its score (row-major [rows, depth]), and each row's leaf.
    static func hardRoutes(_ z: Tensor, normals: Tensor, offsets: Tensor, depth: Int) -> (nodes: [Int], scores: [Float], leaves: [Int]) {
        let rows = z.shape[0], dim = z.shape[1]
        var nodes = [Int](repeating: 0, count: rows * depth), scores = [Float](repeating: 0, count: rows * depth)
        var leaves = [Int](repeating: 0, count: rows)
        for r in 0..<rows {
            var node = 0
            for level in 0..<depth {
                var s = offsets.data[node]
                for c in 0..<dim { s += normals.data[node * dim + c] * z.data[r * dim + c] }
                (nodes[r * depth + level], scores[r * depth + level]) = (node, s)
                node = 2 * node + (s >= 0 ? 2 : 1)
            }
            leaves[r] = node
        }
        return (nodes, scores, leaves)
    }
}
