import Foundation

// Attention where each query reads its own, variable-length list of rows: the keys of its tree
// leaf, the node summaries on its path. Rows are stored back to back (query i owns rows
// starts[i]..<starts[i+1] of keys and values), so no query pays for another's longer list, as
// padding to the longest would make it. Queries are split into fixed chunks that run in
// parallel; every query writes only its own output row and its own key/value rows, so the bits
// do not depend on the thread count.
extension Tape {
    /// Multi-head: head h uses columns h*d/heads..<(h+1)*d/heads of q and keys and the matching
    /// slice of the values; scale 1/sqrt(d/heads). A query with no rows gets a zero row.
    /// `scoreBias` (one constant per row, e.g. log(count) for a node mean) is added to the row's
    /// scaled score in every head; it has no gradient and leaves the backward's formulas as they are.
    public func raggedAttention(_ q: Variable, keys: Variable, values: Variable, starts: [Int], heads: Int = 1,
                                scoreBias: [Float]? = nil) throws -> Variable {
        let queries = value(q), k = value(keys), v = value(values)
        let rows = starts.count - 1
        guard rows >= 0, queries.rank == 2, k.rank == 2, v.rank == 2, queries.shape[0] == rows, k.shape[1] == queries.shape[1],
              starts.first == 0, starts.last == k.shape[0], v.shape[0] == k.shape[0], zip(starts, starts.dropFirst()).allSatisfy({ $0 <= $1 }),
              heads >= 1, queries.shape[1] % heads == 0, v.shape[1] % heads == 0, scoreBias.map({ $0.count == k.shape[0] }) ?? true else {
            throw KernelError.shapeMismatch("ragged attention needs q [rows, d], keys and values [starts.last, d / dv] with ascending starts and heads dividing d and dv",
                                            queries.shape, k.shape)
        }
        let dim = queries.shape[1], dimV = v.shape[1], width = dim / heads, widthV = dimV / heads
        let scale = 1 / Float(max(1, width)).squareRoot()
        // weights[j * heads + h]: the softmax weight of row j for its query and head h.
        var weights = [Float](repeating: 0, count: k.shape[0] * heads)
        var out = try Tensor(zeros: [rows, dimV])
        let chunks = min(64, max(1, rows)), perChunk = (rows + chunks - 1) / max(1, chunks)
        weights.withUnsafeMutableBufferPointer { w in
            out.data.withUnsafeMutableBufferPointer { o in
                let (w, o) = (UncheckedBuffer(w), UncheckedBuffer(o))
                Parallel.forEach(chunks: chunks) { chunk in
                    for i in (chunk * perChunk)..<min(rows, (chunk + 1) * perChunk) where starts[i] < starts[i + 1] {
                        for h in 0..<heads {
                            var top = -Float.infinity
                            for j in starts[i]..<starts[i + 1] {
                                var dot: Float = 0
                                for c in (h * width)..<((h + 1) * width) { dot += queries.data[i * dim + c] * k.data[j * dim + c] }
                                let score = dot * scale + (scoreBias?[j] ?? 0)
                                w.buffer[j * heads + h] = score
                                top = max(top, score)
                            }
                            var sum: Float = 0
                            for j in starts[i]..<starts[i + 1] {
                                let e = expf(w.buffer[j * heads + h] - top)
                                w.buffer[j * heads + h] = e
                                sum += e
                            }
                            for j in starts[i]..<starts[i + 1] {
                                let p = w.buffer[j * heads + h] / sum
                                w.buffer[j * heads + h] = p
                                for c in (h * widthV)..<((h + 1) * widthV) { o.buffer[i * dimV + c] += p * v.data[j * dimV + c] }
                            }
                        }
                    }
                }
            }
        }
        let probabilities = weights
        return record(out) { up, accumulate in
            var dq = try Tensor(zeros: queries.shape), dk = try Tensor(zeros: k.shape), dv = try Tensor(zeros: v.shape)
            dq.data.withUnsafeMutableBufferPointer { dqp in
                dk.data.withUnsafeMutableBufferPointer { dkp in
                    dv.data.withUnsafeMutableBufferPointer { dvp in
                        let (dq, dk, dv) = (UncheckedBuffer(dqp), UncheckedBuffer(dkp), UncheckedBuffer(dvp))
                        Parallel.forEach(chunks: chunks) { chunk in
                            for i in (chunk * perChunk)..<min(rows, (chunk + 1) * perChunk) {
                                for h in 0..<heads {
                                    // d score_j = p_j (up . v_j - up . out) for the head's columns.
                                    var upDotOut: Float = 0
                                    for c in (h * widthV)..<((h + 1) * widthV) { upDotOut += up.data[i * dimV + c] * out.data[i * dimV + c] }
                                    for j in starts[i]..<starts[i + 1] {
                                        let p = probabilities[j * heads + h]
                                        var upDotV: Float = 0
                                        for c in (h * widthV)..<((h + 1) * widthV) {
                                            upDotV += up.data[i * dimV + c] * v.data[j * dimV + c]
                                            dv.buffer[j * dimV + c] += p * up.data[i * dimV + c]
                                        }
                                        let dScore = p * (upDotV - upDotOut) * scale
                                        for c in (h * width)..<((h + 1) * width) {
                                            dq.buffer[i * dim + c] += dScore * k.data[j * dim + c]
                                            dk.buffer[j * dim + c] += dScore * queries.data[i * dim + c]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            try accumulate(q, dq)
            try accumulate(keys, dk)
            try accumulate(values, dv)
        }
    }
}
