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
        let m8 = (m + 7) / 8 * 8, n8 = (n + 7) / 8 * 8
        // lse then D per (head, row), rows padded to a multiple of 8 for SIMD loads.
        var rowStats = [Float](repeating: 0, count: 2 * heads * m8)
        // Transposed copies (one row per column, padded to 8): scores and products for 8 rows
        // or keys at a time are then contiguous SIMD8 loads.
        let qT = try transposedPadded(q, m8), kT = try transposedPadded(k, n8)
        let vT = try transposedPadded(v, n8), gT = try transposedPadded(gradOut, m8)

        q.data.withUnsafeBufferPointer { qb in
        k.data.withUnsafeBufferPointer { kb in
        v.data.withUnsafeBufferPointer { vb in
        out.data.withUnsafeBufferPointer { ob in
        gradOut.data.withUnsafeBufferPointer { gb in
        qT.withUnsafeBufferPointer { qtb in
        kT.withUnsafeBufferPointer { ktb in
        vT.withUnsafeBufferPointer { vtb in
        gT.withUnsafeBufferPointer { gtb in
        rowStats.withUnsafeMutableBufferPointer { sb in
        gradients.q.data.withUnsafeMutableBufferPointer { dqb in
        gradients.k.data.withUnsafeMutableBufferPointer { dkb in
        gradients.v.data.withUnsafeMutableBufferPointer { dvb in
            // Every buffer is non-empty here (m, n, dim, dimV >= 1).
            guard let q = qb.baseAddress, let k = kb.baseAddress, let v = vb.baseAddress, let o = ob.baseAddress, let g = gb.baseAddress,
                  let qt = qtb.baseAddress, let kt = ktb.baseAddress, let vt = vtb.baseAddress, let gt = gtb.baseAddress,
                  let s = sb.baseAddress, let dq = dqb.baseAddress, let dk = dkb.baseAddress, let dv = dvb.baseAddress else { return }
            let io = BackwardIO(q: q, k: k, v: v, out: o, gradOut: g, qT: qt, kT: kt, vT: vt, gT: gt, m8: m8, n8: n8,
                                stats: s, dq: dq, dk: dk, dv: dv, plan: plan)
            let queryBlocks = (m + backwardBlock - 1) / backwardBlock, keyBlocks = (n + backwardBlock - 1) / backwardBlock
            Parallel.forEach(chunks: heads * queryBlocks) { io.rowStatistics(head: $0 / queryBlocks, block: $0 % queryBlocks) }
            if Cancellation.isRequested { return }
            Parallel.forEach(chunks: heads * keyBlocks) { io.keyGradients(head: $0 / keyBlocks, block: $0 % keyBlocks) }
            if Cancellation.isRequested { return }
            Parallel.forEach(chunks: heads * queryBlocks) { io.queryGradients(head: $0 / queryBlocks, block: $0 % queryBlocks) }
        }}}}}}}}}}}}}
        try Cancellation.check()
        return gradients
    }

    /// x [rows, cols] as [cols, paddedRows] (zero padding).
    static func transposedPadded(_ x: Tensor, _ paddedRows: Int) throws -> [Float] {
        let (rows, cols) = (x.shape[0], x.shape[1])
        try MemoryLimit.reserve(cols * paddedRows)
        var out = [Float](repeating: 0, count: cols * paddedRows)
        for r in 0..<rows { for c in 0..<cols { out[c * paddedRows + r] = x.data[r * cols + c] } }
        return out
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
    typealias V = SIMD8<Float>
    let q, k, v, out, gradOut: UnsafePointer<Float>
    /// Transposed inputs: column c of q is qT[c * m8 ..< c * m8 + m] (and likewise k, v with n8, dO with m8).
    let qT, kT, vT, gT: UnsafePointer<Float>
    let m8, n8: Int
    let stats, dq, dk, dv: UnsafeMutablePointer<Float>
    let plan: BackwardPlan
    static let log2e: Float = 1.442695041

    @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    func lse(_ head: Int) -> UnsafeMutablePointer<Float> { stats + head * m8 }
    func delta(_ head: Int) -> UnsafeMutablePointer<Float> { stats + (plan.heads + head) * m8 }

    /// Lanes of the 8 indices from `first` that are below `end`.
    @inline(__always) func lanes(_ first: Int, below end: Int) -> SIMDMask<SIMD8<Int32>> {
        SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &+ Int32(first) .< SIMD8<Int32>(repeating: Int32(end))
    }

    /// Lanes of the 8 indices from `first` that are at least `start`.
    @inline(__always) func lanes(_ first: Int, from start: Int) -> SIMDMask<SIMD8<Int32>> {
        SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &+ Int32(first) .>= SIMD8<Int32>(repeating: Int32(start))
    }

    /// Scaled scores of one row of `a` (row-major, its head's columns at `a`) against 8 columns
    /// of a transposed matrix starting at column `first`.
    @inline(__always) func scores(_ a: UnsafePointer<Float>, _ transposed: UnsafePointer<Float>, stride: Int, first: Int, count: Int) -> V {
        var s = V()
        for c in 0..<count { s.addProduct(V(repeating: a[c]), load(transposed + c * stride + first)) }
        return s
    }

    /// Pass 0: each row's log-sum-exp of its scores (lane-wise online softmax), and D = dO . O.
    func rowStatistics(head: Int, block: Int) {
        let start = block * Attention.backwardBlock, end = min(plan.m, start + Attention.backwardBlock)
        let hd = plan.headDim, hdv = plan.headDimV
        let scaleLog2 = plan.scale * BackwardIO.log2e
        let kHead = kT + head * hd * n8
        for row in start..<end {
            let qRow = q + row * plan.dim + head * hd
            let keyEnd = plan.keyEnd(row: row)
            var maximum = V(repeating: -1e30), sum = V()
            for first in stride(from: 0, to: keyEnd, by: 8) {
                let s = (scores(qRow, kHead, stride: n8, first: first, count: hd) * scaleLog2)
                    .replacing(with: -.infinity, where: .!lanes(first, below: keyEnd))
                let next = pointwiseMax(maximum, s)
                sum = sum * FastExp.exp2(maximum - next) + FastExp.exp2(s - next)
                maximum = next
            }
            let top = maximum.max()
            let total = (sum * FastExp.exp2(maximum - V(repeating: top))).sum()
            lse(head)[row] = (top + log2(total)) / BackwardIO.log2e
            var d: Float = 0
            let offset = row * plan.dimV + head * hdv
            for c in 0..<hdv { d += gradOut[offset + c] * out[offset + c] }
            delta(head)[row] = d
        }
    }

    /// Pass A: dk and dv for one block of keys, summed over every query (8 at a time) that sees them.
    func keyGradients(head: Int, block: Int) {
        if Cancellation.isRequested { return }
        let start = block * Attention.backwardBlock, end = min(plan.n, start + Attention.backwardBlock)
        let hd = plan.headDim, hdv = plan.headDimV
        let qHead = qT + head * hd * m8, gHead = gT + head * hdv * m8
        let lseRow = lse(head), deltaRow = delta(head)
        let accumulators = UnsafeMutablePointer<V>.allocate(capacity: hd + hdv)
        defer { accumulators.deallocate() }
        let log2e = V(repeating: BackwardIO.log2e), scale = V(repeating: plan.scale)
        for key in start..<end {
            accumulators.initialize(repeating: V(), count: hd + hdv)
            let kRow = k + key * plan.dim + head * hd, vRow = v + key * plan.dimV + head * hdv
            let firstRow = plan.causal ? key / 8 * 8 : 0
            for first in stride(from: firstRow, to: plan.m, by: 8) {
                var valid = lanes(first, below: plan.m)
                if plan.causal { valid = valid .& lanes(first, from: key) }
                let s = scores(kRow, qHead, stride: m8, first: first, count: hd) * scale
                let p = FastExp.exp2((s - load(lseRow + first)) * log2e).replacing(with: 0, where: .!valid)
                let dP = scores(vRow, gHead, stride: m8, first: first, count: hdv)
                let dS = p * (dP - load(deltaRow + first)) * scale
                for c in 0..<hdv { accumulators[hd + c].addProduct(p, load(gHead + c * m8 + first)) }
                for c in 0..<hd { accumulators[c].addProduct(dS, load(qHead + c * m8 + first)) }
            }
            for c in 0..<hd { dk[key * plan.dim + head * hd + c] = accumulators[c].sum() }
            for c in 0..<hdv { dv[key * plan.dimV + head * hdv + c] = accumulators[hd + c].sum() }
        }
    }

    /// Pass B: dq for one block of queries, summed over every key (8 at a time) they see.
    func queryGradients(head: Int, block: Int) {
        if Cancellation.isRequested { return }
        let start = block * Attention.backwardBlock, end = min(plan.m, start + Attention.backwardBlock)
        let hd = plan.headDim, hdv = plan.headDimV
        let kHead = kT + head * hd * n8, vHead = vT + head * hdv * n8
        let accumulators = UnsafeMutablePointer<V>.allocate(capacity: hd)
        defer { accumulators.deallocate() }
        let log2e = V(repeating: BackwardIO.log2e), scale = V(repeating: plan.scale)
        for row in start..<end {
            accumulators.initialize(repeating: V(), count: hd)
            let qRow = q + row * plan.dim + head * hd, gRow = gradOut + row * plan.dimV + head * hdv
            let rowLse = V(repeating: lse(head)[row]), rowDelta = V(repeating: delta(head)[row])
            let keyEnd = plan.keyEnd(row: row)
            for first in stride(from: 0, to: keyEnd, by: 8) {
                let s = scores(qRow, kHead, stride: n8, first: first, count: hd) * scale
                let p = FastExp.exp2((s - rowLse) * log2e).replacing(with: 0, where: .!lanes(first, below: keyEnd))
                let dS = p * (scores(gRow, vHead, stride: n8, first: first, count: hdv) - rowDelta) * scale
                for c in 0..<hd { accumulators[c].addProduct(dS, load(kHead + c * n8 + first)) }
            }
            for c in 0..<hd { dq[row * plan.dim + head * hd + c] = accumulators[c].sum() }
        }
    }
}
