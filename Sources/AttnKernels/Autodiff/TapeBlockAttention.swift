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
        // Sequences run in parallel (each result written to its own slot, so the bits do not
        // depend on the thread count); the attention calls inside then run on the worker.
        // Each block's log-sum-exp is kept (O(N)) so that the backward need not recompute it.
        let forwards = try Tape.perBlock(blocks) { b in
            try Attention.forwardKeepingLogSumExp(q: try xq.rows(b * nq, nq), k: try xk.rows(b * nk, nk), v: try xv.rows(b * nk, nk), options: options)
        }
        return record(try Tensor.concat(forwards.map(\.out), axis: 0)) { up, accumulate in
            let grads = try Tape.perBlock(blocks) { b in
                try Attention.backward(q: try xq.rows(b * nq, nq), k: try xk.rows(b * nk, nk), v: try xv.rows(b * nk, nk),
                                       out: forwards[b].out, gradOut: try up.rows(b * nq, nq), options: options,
                                       logSumExp: forwards[b].logSumExp)
            }
            try accumulate(q, try Tensor.concat(grads.map(\.q), axis: 0))
            try accumulate(k, try Tensor.concat(grads.map(\.k), axis: 0))
            try accumulate(v, try Tensor.concat(grads.map(\.v), axis: 0))
        }
    }

    /// body(b) for every block b, in parallel; the results in block order, or the first error.
    static func perBlock<T>(_ blocks: Int, _ body: (Int) throws -> T) throws -> [T] {
        var results = [Result<T, Error>?](repeating: nil, count: blocks)
        results.withUnsafeMutableBufferPointer { slots in
            let slots = UncheckedBuffer(slots)
            Parallel.forEach(chunks: blocks) { b in slots.buffer[b] = Result { try body(b) } }
        }
        return try results.map { try $0?.get() ?? { throw KernelError.invalidArgument("internal: a block did not run") }() }
    }

    /// Each query row i of q [rows, d] attends only to its own `group` rows of kv
    /// (rows i*group..<(i+1)*group, used as keys and values).
    public func groupedAttention(_ q: Variable, _ kv: Variable, group: Int, valid: [Bool]) throws -> Variable {
        try groupedAttention(q, keys: kv, values: kv, group: group, valid: valid)
    }

    /// Each query row i of q [rows, d] attends only to its own `group` rows of keys [rows * group, d]
    /// and values [rows * group, dv]; rows whose `valid` flag is false are padding and get no
    /// weight (a query with none gets a zero row). Single head, scale 1/sqrt(d). The ragged
    /// attention over the valid rows (no copy when all are valid).
    public func groupedAttention(_ q: Variable, keys: Variable, values: Variable, group: Int, valid: [Bool]) throws -> Variable {
        let queries = value(q), k = value(keys), v = value(values)
        let (rows, dim) = (queries.shape[0], queries.shape.last ?? 0)
        guard queries.rank == 2, k.rank == 2, v.rank == 2, group >= 1, k.shape == [rows * group, dim],
              v.shape[0] == rows * group, valid.count == rows * group else {
            throw KernelError.shapeMismatch("grouped attention needs q [rows, d], keys [rows * group, d] and values [rows * group, dv]", queries.shape, k.shape)
        }
        if !valid.contains(false) {
            return try raggedAttention(q, keys: keys, values: values, starts: Array(stride(from: 0, through: rows * group, by: group)))
        }
        var kept = [Int](), starts = [0]
        for i in 0..<rows {
            for g in 0..<group where valid[i * group + g] { kept.append(i * group + g) }
            starts.append(kept.count)
        }
        let mix = RowMix(gather: kept)
        return try raggedAttention(q, keys: try mixRows(keys, mix), values: try mixRows(values, mix), starts: starts)
    }
}

/// A buffer whose disjoint slots parallel workers write.
struct UncheckedBuffer<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
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
