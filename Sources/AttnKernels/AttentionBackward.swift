import Foundation

// The backward pass of exact attention, O(N) memory like the forward: the score matrix is never
// stored. For out = softmax(s q k^T) v with upstream gradient dO (per head):
//   P = exp(s q k^T - lse),  D_i = sum_c dO_ic O_ic,  dS = P * (dO v^T - D)
//   dv = P^T dO,  dq = s dS k,  dk = s dS^T q
// Three passes recompute P from q, k and the row log-sum-exp instead of storing it:
// (0) lse and D per query row; (A) per key block, dk and dv over every query; (B) per query
// block, dq over every key. Each output row is summed by one chunk in a fixed order, so results
// are bit-identical for any thread count (FlashAttention-2 uses atomics for dq instead; the
// second pass over the keys is the price of determinism).
public struct AttentionGradients {
    public var q: Tensor
    public var k: Tensor
    public var v: Tensor
}

extension Attention {
    static let backwardBlock = 64

    /// `out` is the forward result for the same inputs; `gradOut` is dLoss/dOut, shaped like it.
    public static func backward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, gradOut: Tensor,
                                options: AttentionOptions = .init()) throws -> AttentionGradients {
        _ = try forwardShapesChecked(q: q, k: k, v: v, options: options)
        let m = q.shape[0], n = k.shape[0], dim = q.shape[1], dimV = v.shape[1]
        guard out.shape == [m, dimV], gradOut.shape == [m, dimV] else {
            throw KernelError.shapeMismatch("attention backward needs out and its gradient shaped [queries, value dim]", out.shape, gradOut.shape)
        }
        let heads = options.heads
        let plan = BackwardPlan(m: m, n: n, dim: dim, dimV: dimV, heads: heads,
                                scale: options.scale ?? (dim / heads > 0 ? 1 / Float(dim / heads).squareRoot() : 1),
                                causal: options.causal)
        var gradients = AttentionGradients(q: try Tensor(zeros: [m, dim]), k: try Tensor(zeros: [n, dim]), v: try Tensor(zeros: [n, dimV]))
        guard m > 0, n > 0 else { return gradients }
        guard dim > 0, dimV > 0 else { throw KernelError.invalidArgument("attention backward needs q, k and v with at least one column") }
        var rowStats = [Float](repeating: 0, count: 2 * heads * m)  // lse, then D, per (head, row)
        try MemoryLimit.reserve(rowStats.count)

        q.data.withUnsafeBufferPointer { qb in
        k.data.withUnsafeBufferPointer { kb in
        v.data.withUnsafeBufferPointer { vb in
        out.data.withUnsafeBufferPointer { ob in
        gradOut.data.withUnsafeBufferPointer { gb in
        rowStats.withUnsafeMutableBufferPointer { sb in
        gradients.q.data.withUnsafeMutableBufferPointer { dqb in
        gradients.k.data.withUnsafeMutableBufferPointer { dkb in
        gradients.v.data.withUnsafeMutableBufferPointer { dvb in
            // Every buffer is non-empty here (m, n, dim, dimV >= 1).
            guard let q = qb.baseAddress, let k = kb.baseAddress, let v = vb.baseAddress, let o = ob.baseAddress, let g = gb.baseAddress,
                  let s = sb.baseAddress, let dq = dqb.baseAddress, let dk = dkb.baseAddress, let dv = dvb.baseAddress else { return }
            let io = BackwardIO(q: q, k: k, v: v, out: o, gradOut: g, stats: s, dq: dq, dk: dk, dv: dv, plan: plan)
            let queryBlocks = (m + backwardBlock - 1) / backwardBlock, keyBlocks = (n + backwardBlock - 1) / backwardBlock
            Parallel.forEach(chunks: heads * queryBlocks) { io.rowStatistics(head: $0 / queryBlocks, block: $0 % queryBlocks) }
            if Cancellation.isRequested { return }
            Parallel.forEach(chunks: heads * keyBlocks) { io.keyGradients(head: $0 / keyBlocks, block: $0 % keyBlocks) }
            if Cancellation.isRequested { return }
            Parallel.forEach(chunks: heads * queryBlocks) { io.queryGradients(head: $0 / queryBlocks, block: $0 % queryBlocks) }
        }}}}}}}}}
        try Cancellation.check()
        return gradients
    }

    /// The forward's argument checks, shared so the backward rejects exactly what the forward does.
    static func forwardShapesChecked(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions) throws -> Bool {
        for (name, t) in [("q", q), ("k", k), ("v", v)] where t.rank != 2 {
            throw KernelError.invalidShape("attention needs `\(name)` to be a matrix [tokens, dim], got shape \(formatShape(t.shape))")
        }
        guard k.shape[1] == q.shape[1] else { throw KernelError.shapeMismatch("attention needs q and k with the same last dimension", q.shape, k.shape) }
        guard v.shape[0] == k.shape[0] else { throw KernelError.shapeMismatch("attention needs k and v with the same number of tokens", k.shape, v.shape) }
        let heads = options.heads
        guard heads >= 1, q.shape[1] % heads == 0, v.shape[1] % heads == 0 else {
            throw KernelError.invalidArgument("heads=\(heads) must be at least 1 and divide the dimensions (q/k: \(q.shape[1]), v: \(v.shape[1]))")
        }
        if options.causal && q.shape[0] != k.shape[0] {
            throw KernelError.invalidArgument("causal attention needs as many queries as keys (got \(q.shape[0]) queries, \(k.shape[0]) keys)")
        }
        return true
    }
}

struct BackwardPlan {
    let m, n, dim, dimV, heads: Int
    let scale: Float
    let causal: Bool
    var headDim: Int { dim / heads }
    var headDimV: Int { dimV / heads }
    /// Keys a query row may see: all, or up to itself when causal.
    func keyEnd(row: Int) -> Int { causal ? row + 1 : n }
}

private struct BackwardIO: @unchecked Sendable {
    let q, k, v, out, gradOut: UnsafePointer<Float>
    let stats, dq, dk, dv: UnsafeMutablePointer<Float>
    let plan: BackwardPlan

    func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var sum: Float = 0
        for c in 0..<count { sum += a[c] * b[c] }
        return sum
    }

    func score(head: Int, row: Int, key: Int) -> Float {
        let hd = plan.headDim
        return plan.scale * dot(q + row * plan.dim + head * hd, k + key * plan.dim + head * hd, hd)
    }

    func lse(_ head: Int, _ row: Int) -> Float { stats[head * plan.m + row] }
    func delta(_ head: Int, _ row: Int) -> Float { stats[(plan.heads + head) * plan.m + row] }

    /// Pass 0: each row's log-sum-exp of its scores, and D = dO . O over the head's columns.
    func rowStatistics(head: Int, block: Int) {
        let start = block * Attention.backwardBlock, end = min(plan.m, start + Attention.backwardBlock)
        let hdv = plan.headDimV
        for row in start..<end {
            var maximum = -Float.infinity
            for key in 0..<plan.keyEnd(row: row) { maximum = max(maximum, score(head: head, row: row, key: key)) }
            var sum: Float = 0
            for key in 0..<plan.keyEnd(row: row) { sum += exp(score(head: head, row: row, key: key) - maximum) }
            stats[head * plan.m + row] = maximum + log(sum)
            let offset = row * plan.dimV + head * hdv
            stats[(plan.heads + head) * plan.m + row] = dot(gradOut + offset, out + offset, hdv)
        }
    }

    /// Pass A: dk and dv for one block of keys, summed over every query that sees them.
    func keyGradients(head: Int, block: Int) {
        if Cancellation.isRequested { return }
        let start = block * Attention.backwardBlock, end = min(plan.n, start + Attention.backwardBlock)
        let hd = plan.headDim, hdv = plan.headDimV
        for key in start..<end {
            let dkRow = dk + key * plan.dim + head * hd, dvRow = dv + key * plan.dimV + head * hdv
            let vRow = v + key * plan.dimV + head * hdv
            for row in (plan.causal ? key : 0)..<plan.m {
                let p = exp(score(head: head, row: row, key: key) - lse(head, row))
                let gRow = gradOut + row * plan.dimV + head * hdv
                for c in 0..<hdv { dvRow[c] += p * gRow[c] }
                let dS = p * (dot(gRow, vRow, hdv) - delta(head, row))
                let qRow = q + row * plan.dim + head * hd
                let factor = plan.scale * dS
                for c in 0..<hd { dkRow[c] += factor * qRow[c] }
            }
        }
    }

    /// Pass B: dq for one block of queries, summed over every key they see.
    func queryGradients(head: Int, block: Int) {
        if Cancellation.isRequested { return }
        let start = block * Attention.backwardBlock, end = min(plan.m, start + Attention.backwardBlock)
        let hd = plan.headDim, hdv = plan.headDimV
        for row in start..<end {
            let dqRow = dq + row * plan.dim + head * hd
            let gRow = gradOut + row * plan.dimV + head * hdv
            for key in 0..<plan.keyEnd(row: row) {
                let p = exp(score(head: head, row: row, key: key) - lse(head, row))
                let dS = p * (dot(gRow, v + key * plan.dimV + head * hdv, hdv) - delta(head, row))
                let kRow = k + key * plan.dim + head * hd
                let factor = plan.scale * dS
                for c in 0..<hd { dqRow[c] += factor * kRow[c] }
            }
        }
    }
}
