import Foundation

// Attention over a batch stored as stacked rows: sequence b owns rows b*nq..<(b+1)*nq of q and
// b*nk..<(b+1)*nk of k and v. Linear layers run once over all rows; only the token mixing is
// per sequence.
extension Tape {
    public func blockAttention(_ q: Variable, _ k: Variable, _ v: Variable, blocks: Int, options: AttentionOptions = .init()) throws -> Variable {
        let (xq, xk, xv) = (value(q), value(k), value(v))
        guard blocks >= 1, xq.rank == 2, xk.rank == 2, xv.rank == 2,
              xq.shape[0] % blocks == 0, xk.shape[0] % blocks == 0, xv.shape[0] == xk.shape[0] else {
            throw KernelError.shapeMismatch("block attention needs q, k, v whose rows split into \(blocks) equal blocks", xq.shape, xk.shape)
        }
        let nq = xq.shape[0] / blocks, nk = xk.shape[0] / blocks
        var outputs = [Tensor]()
        for b in 0..<blocks {
            outputs.append(try Attention.forward(q: try xq.rows(b * nq, nq), k: try xk.rows(b * nk, nk), v: try xv.rows(b * nk, nk), options: options).0)
        }
        return record(try Tensor.concat(outputs, axis: 0)) { up, accumulate in
            var dq = [Tensor](), dk = [Tensor](), dv = [Tensor]()
            for b in 0..<blocks {
                let g = try Attention.backward(q: try xq.rows(b * nq, nq), k: try xk.rows(b * nk, nk), v: try xv.rows(b * nk, nk),
                                               out: outputs[b], gradOut: try up.rows(b * nq, nq), options: options)
                dq.append(g.q); dk.append(g.k); dv.append(g.v)
            }
            try accumulate(q, try Tensor.concat(dq, axis: 0))
            try accumulate(k, try Tensor.concat(dk, axis: 0))
            try accumulate(v, try Tensor.concat(dv, axis: 0))
        }
    }

    /// Each query row i of q [rows, d] attends only to its own `group` rows of kv
    /// (rows i*group..<(i+1)*group, used as keys and values); rows whose `valid` flag is false
    /// are padding and get no weight. Single head, scale 1/sqrt(d).
    public func groupedAttention(_ q: Variable, _ kv: Variable, group: Int, valid: [Bool]) throws -> Variable {
        let queries = value(q), keys = value(kv)
        let (rows, dim) = (queries.shape[0], queries.shape.last ?? 0)
        guard queries.rank == 2, keys.rank == 2, group >= 1, keys.shape == [rows * group, dim], valid.count == rows * group else {
            throw KernelError.shapeMismatch("grouped attention needs q [rows, d] and kv [rows * group, d]", queries.shape, keys.shape)
        }
        let scale = 1 / Float(max(1, dim)).squareRoot()
        var weights = [Float](repeating: 0, count: rows * group)
        var out = try Tensor(zeros: [rows, dim])
        for i in 0..<rows {
            var top = -Float.infinity
            for g in 0..<group where valid[i * group + g] {
                var dot: Float = 0
                for j in 0..<dim { dot += queries.data[i * dim + j] * keys.data[(i * group + g) * dim + j] }
                weights[i * group + g] = dot * scale
                top = max(top, dot * scale)
            }
            var sum: Float = 0
            for g in 0..<group {
                let w = valid[i * group + g] ? expf(weights[i * group + g] - top) : 0
                weights[i * group + g] = w
                sum += w
            }
            for g in 0..<group where sum > 0 {
                weights[i * group + g] /= sum
                for j in 0..<dim { out.data[i * dim + j] += weights[i * group + g] * keys.data[(i * group + g) * dim + j] }
            }
        }
        return record(out) { up, accumulate in
            var dq = try Tensor(zeros: queries.shape), dkv = try Tensor(zeros: keys.shape)
            for i in 0..<rows {
                // d score_g = w_g * (up . kv_g - up . out)
                var upDotOut: Float = 0
                for j in 0..<dim { upDotOut += up.data[i * dim + j] * out.data[i * dim + j] }
                for g in 0..<group where weights[i * group + g] > 0 {
                    let row = (i * group + g) * dim, w = weights[i * group + g]
                    var upDotV: Float = 0
                    for j in 0..<dim { upDotV += up.data[i * dim + j] * keys.data[row + j] }
                    let dScore = w * (upDotV - upDotOut) * scale
                    for j in 0..<dim {
                        dq.data[i * dim + j] += dScore * keys.data[row + j]
                        dkv.data[row + j] += dScore * queries.data[i * dim + j] + w * up.data[i * dim + j]
                    }
                }
            }
            try accumulate(q, dq)
            try accumulate(kv, dkv)
        }
    }
}

extension Tensor {
    /// Rows start..<start+count of a matrix, copied.
    public func rows(_ start: Int, _ count: Int) throws -> Tensor {
        guard rank == 2, start >= 0, count >= 0, start + count <= shape[0] else {
            throw KernelError.invalidShape("rows \(start)..<\(start + count) out of range for shape \(formatShape(shape))")
        }
        let cols = shape[1]
        return try Tensor(shape: [count, cols], data: Array(data[(start * cols)..<((start + count) * cols)]))
    }
}
