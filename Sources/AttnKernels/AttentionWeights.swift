import Foundation

// The attention matrix itself, softmax(scale * q k^T) with an optional causal mask, for looking
// at (heatmaps) at small sizes. It is M x N floats, so the memory limit guards its size; the
// attention operators never build it.
extension Attention {
    public static func weights(q: Tensor, k: Tensor, causal: Bool = false, scale: Float? = nil) throws -> Tensor {
        guard q.rank == 2, k.rank == 2 else {
            throw KernelError.invalidShape("weights needs q and k to be matrices [tokens, dim], got \(formatShape(q.shape)) and \(formatShape(k.shape))")
        }
        guard q.shape[1] == k.shape[1] else {
            throw KernelError.shapeMismatch("weights needs q and k with the same last dimension", q.shape, k.shape)
        }
        let m = q.shape[0], n = k.shape[0], d = q.shape[1]
        guard n > 0 else { throw KernelError.invalidArgument("weights needs at least one key") }
        if causal && m != n {
            throw KernelError.invalidArgument("causal weights need as many queries as keys (got \(m) queries, \(n) keys)")
        }
        let factor = scale ?? (d > 0 ? 1 / Float(d).squareRoot() : 1)
        guard case var .tensor(scores) = try q.matmul(try k.transposed()) else {
            throw KernelError.invalidShape("weights needs matrices, got \(formatShape(q.shape)) and \(formatShape(k.shape))")
        }
        scores.data.withUnsafeMutableBufferPointer { s in
            for i in 0..<m {
                for j in 0..<n { s[i * n + j] = causal && j > i ? -.infinity : s[i * n + j] * factor }
            }
        }
        return try scores.softmax(axis: -1)
    }
}
