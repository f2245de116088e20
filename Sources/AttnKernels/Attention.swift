import Foundation

// Exact softmax attention, out = softmax(scale * q k^T + mask) v: shapes are checked here once,
// the work is done by FlashAttention (the fast path). streamingReference below is the first,
// scalar version of the same algorithm, kept as readable documentation and a test oracle.
public struct AttentionStats: Equatable, Sendable {
    /// Mean number of keys each query attended to.
    public var tokens: Double
    /// Multiply-adds counted as 2 FLOPs: 4 * d per (query, key) pair.
    public var flops: Double
}

public struct AttentionOptions: Sendable {
    public var causal = false
    public var heads = 1
    public var scale: Float? = nil
    public init(causal: Bool = false, heads: Int = 1, scale: Float? = nil) {
        self.causal = causal
        self.heads = heads
        self.scale = scale
    }
}

public enum Attention {
    static let queryTile = 64
    static let keyTile = 256

    /// q: [M, D], k: [N, D], v: [N, Dv]; D and Dv divisible by `heads`.
    public static func forward(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = .init()) throws -> (Tensor, AttentionStats) {
        var unused: [Float]? = nil
        return try forward(q: q, k: k, v: v, options: options, logSumExp: &unused)
    }

    /// The same, also returning each (head, query row)'s log-sum-exp of its scaled scores
    /// ([heads * M], head-major), which `backward` can take instead of recomputing it.
    public static func forwardKeepingLogSumExp(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = .init()) throws -> (out: Tensor, logSumExp: [Float]) {
        var lse: [Float]? = []
        let out = try forward(q: q, k: k, v: v, options: options, logSumExp: &lse).0
        return (out, lse ?? [])
    }

    /// `logSumExp` non-nil on entry: filled with [heads * M] values.
    static func forward(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions, logSumExp: inout [Float]?) throws -> (Tensor, AttentionStats) {
        for (name, t) in [("q", q), ("k", k), ("v", v)] where t.rank != 2 {
            throw KernelError.invalidShape("attention needs `\(name)` to be a matrix [tokens, dim], got shape \(formatShape(t.shape))")
        }
        let m = q.shape[0], n = k.shape[0], dim = q.shape[1], dimV = v.shape[1]
        guard k.shape[1] == dim else {
            throw KernelError.shapeMismatch("attention needs q and k with the same last dimension", q.shape, k.shape)
        }
        guard v.shape[0] == n else {
            throw KernelError.shapeMismatch("attention needs k and v with the same number of tokens", k.shape, v.shape)
        }
        let heads = options.heads
        guard heads >= 1, dim % heads == 0, dimV % heads == 0 else {
            throw KernelError.invalidArgument("heads=\(heads) must be at least 1 and divide the dimensions (q/k: \(dim), v: \(dimV))")
        }
        if options.causal && m != n {
            throw KernelError.invalidArgument("causal attention needs as many queries as keys (got \(m) queries, \(n) keys)")
        }
        guard n > 0 || m == 0 else {
            throw KernelError.invalidArgument("attention needs at least one key (k has shape \(formatShape(k.shape)))")
        }
        let headDim = dim / heads
        let scale = options.scale ?? (headDim > 0 ? 1 / Float(headDim).squareRoot() : 1)
        var out = try Tensor(zeros: [m, dimV])
        if m > 0 {
            if logSumExp != nil {
                var lse = [Float](repeating: 0, count: heads * m)
                try lse.withUnsafeMutableBufferPointer { buffer in
                    try FlashAttention.run(q: q, k: k, v: v, out: &out, heads: heads, scale: scale, causal: options.causal, logSumExp: buffer.baseAddress)
                }
                logSumExp = lse
            } else {
                try FlashAttention.run(q: q, k: k, v: v, out: &out, heads: heads, scale: scale, causal: options.causal)
            }
        }
        try Cancellation.check()
        let pairs = options.causal ? Double(m) * Double(m + 1) / 2 : Double(m) * Double(n)
        let stats = AttentionStats(tokens: m == 0 ? 0 : pairs / Double(m), flops: 2 * pairs * Double(dim + dimV))
        return (out, stats)
    }
}

extension Attention {
    /// The first, scalar implementation of the same streaming softmax (one query row at a time
    /// over key tiles of 256). Kept as a readable reference: tests compare the fast path with it.
    public static func streamingReference(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float, causal: Bool) throws -> Tensor {
        let m = q.shape[0], n = k.shape[0], dim = q.shape[1], dimV = v.shape[1]
        let headDim = dim / heads, headDimV = dimV / heads
        var out = try Tensor(zeros: [m, dimV])
        let tilesPerHead = (m + queryTile - 1) / queryTile
        q.data.withUnsafeBufferPointer { qb in
            k.data.withUnsafeBufferPointer { kb in
                v.data.withUnsafeBufferPointer { vb in
                    out.data.withUnsafeMutableBufferPointer { ob in
                        let io = TileIO(q: qb.baseAddress, k: kb.baseAddress, v: vb.baseAddress, out: ob.baseAddress,
                                        m: m, n: n, dim: dim, dimV: dimV, headDim: headDim, headDimV: headDimV,
                                        scale: scale, causal: causal)
                        for item in 0..<(heads * tilesPerHead) {
                            io.run(head: item / tilesPerHead, rowStart: (item % tilesPerHead) * queryTile)
                        }
                    }
                }
            }
        }
        return out
    }
}

/// One (head, query tile) of the scalar streaming softmax.
private struct TileIO: @unchecked Sendable {
    let q, k, v: UnsafePointer<Float>?
    let out: UnsafeMutablePointer<Float>?
    let m, n, dim, dimV, headDim, headDimV: Int
    let scale: Float
    let causal: Bool

    func run(head: Int, rowStart: Int) {
        guard let q, let k, let v, let out else { return }
        let rows = min(Attention.queryTile, m - rowStart)
        let bk = Attention.keyTile
        // Scratch: q tile, transposed key tile, value tile, scores, running max / sum, accumulator.
        let qTile = UnsafeMutablePointer<Float>.allocate(capacity: rows * max(headDim, 1))
        let kT = UnsafeMutablePointer<Float>.allocate(capacity: max(headDim, 1) * bk)
        let vTile = UnsafeMutablePointer<Float>.allocate(capacity: bk * max(headDimV, 1))
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * bk)
        let runMax = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        let runSum = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        let acc = UnsafeMutablePointer<Float>.allocate(capacity: rows * max(headDimV, 1))
        defer {
            qTile.deallocate(); kT.deallocate(); vTile.deallocate(); scores.deallocate()
            runMax.deallocate(); runSum.deallocate(); acc.deallocate()
        }
        for r in 0..<rows {
            let src = q + (rowStart + r) * dim + head * headDim
            for c in 0..<headDim { qTile[r * headDim + c] = src[c] * scale }
        }
        runMax.update(repeating: -.infinity, count: rows)
        runSum.update(repeating: 0, count: rows)
        acc.update(repeating: 0, count: rows * headDimV)

        let keyEnd = causal ? rowStart + rows : n
        var keyStart = 0
        while keyStart < keyEnd {
            let cols = min(bk, keyEnd - keyStart)
            for j in 0..<cols {
                let kRow = k + (keyStart + j) * dim + head * headDim
                for c in 0..<headDim { kT[c * bk + j] = kRow[c] }
                let vRow = v + (keyStart + j) * dimV + head * headDimV
                for c in 0..<headDimV { vTile[j * headDimV + c] = vRow[c] }
            }
            for r in 0..<rows {
                let s = scores + r * bk
                s.update(repeating: 0, count: cols)
                for c in 0..<headDim {
                    let qc = qTile[r * headDim + c]
                    let kRow = kT + c * bk
                    for j in 0..<cols { s[j] += qc * kRow[j] }
                }
                // Keys after the query's own position are masked out when causal.
                let visible = causal ? min(cols, rowStart + r + 1 - keyStart) : cols
                if visible <= 0 { continue }
                var tileMax = -Float.infinity
                for j in 0..<visible { tileMax = max(tileMax, s[j]) }
                let newMax = max(runMax[r], tileMax)
                let correction = expf(runMax[r] - newMax)
                runMax[r] = newMax
                var tileSum: Float = 0
                for j in 0..<visible {
                    let p = expf(s[j] - newMax)
                    s[j] = p
                    tileSum += p
                }
                runSum[r] = runSum[r] * correction + tileSum
                let a = acc + r * headDimV
                if correction != 1 { for c in 0..<headDimV { a[c] *= correction } }
                for j in 0..<visible {
                    let p = s[j]
                    let vRow = vTile + j * headDimV
                    for c in 0..<headDimV { a[c] += p * vRow[c] }
                }
            }
            keyStart += cols
        }
        for r in 0..<rows {
            let dst = out + (rowStart + r) * dimV + head * headDimV
            let inv = 1 / runSum[r]
            for c in 0..<headDimV { dst[c] = acc[r * headDimV + c] * inv }
        }
    }
}
