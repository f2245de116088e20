import Foundation

// The backward pass of exact attention, O(N) memory like the forward: the score matrix is never
// stored. For out = softmax(s q k^T) v with upstream gradient dO (per head):
//   P = exp(s q k^T - lse),  D_i = sum_c dO_ic O_ic,  dS = P * (dO v^T - D)
//   dv = P^T dO,  dq = s dS k,  dk = s dS^T q
// Three passes recompute P from q, k and the row log-sum-exp instead of storing it:
// (0) lse and D per query row; (A) per key block, dk and dv over every query; (B) per query
// block, dq over every key. Short key sequences take one pass instead of A and B
// (AttentionBackwardOnePass.swift). Each pass works on [64, N] tiles (O(N) scratch per worker) with the
// GEMM micro-kernel reading the operands in place for the products, and the vectorised exp. Each output row is summed
// by one chunk in a fixed order, so results are bit-identical for any thread count (FlashAttention-2 uses atomics for dq instead; the
// second pass over the keys is the price of determinism).
public struct AttentionGradients {
    public var q: Tensor
    public var k: Tensor
    public var v: Tensor
}

extension Attention {
    static let backwardBlock = 64

    /// `out` is the forward result for the same inputs; `gradOut` is dLoss/dOut, shaped like it.
    /// `logSumExp`: the forward's per-(head, row) log-sum-exp (`forwardKeepingLogSumExp`), which
    /// saves the pass that recomputes every score only to find it.
    public static func backward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, gradOut: Tensor,
                                options: AttentionOptions = .init(), logSumExp: [Float]? = nil) throws -> AttentionGradients {
        _ = try forwardShapesChecked(q: q, k: k, v: v, options: options)
        let m = q.shape[0], n = k.shape[0], dim = q.shape[1], dimV = v.shape[1]
        guard out.shape == [m, dimV], gradOut.shape == [m, dimV] else {
            throw KernelError.shapeMismatch("attention backward needs out and its gradient shaped [queries, value dim]", out.shape, gradOut.shape)
        }
        let heads = options.heads
        if let logSumExp, logSumExp.count != heads * m {
            throw KernelError.invalidArgument("attention backward: the log-sum-exp needs heads x queries = \(heads * m) values, got \(logSumExp.count)")
        }
        let plan = BackwardPlan(m: m, n: n, dim: dim, dimV: dimV, heads: heads,
                                scale: options.scale ?? (dim / heads > 0 ? 1 / Float(dim / heads).squareRoot() : 1),
                                causal: options.causal)
        var gradients = AttentionGradients(q: try Tensor(zeros: [m, dim]), k: try Tensor(zeros: [n, dim]), v: try Tensor(zeros: [n, dimV]))
        guard m > 0, n > 0 else { return gradients }
        guard dim > 0, dimV > 0 else { throw KernelError.invalidArgument("attention backward needs q, k and v with at least one column") }
        let mPadded = (m + 15) / 16 * 16, nPadded = (n + 15) / 16 * 16
        // lse then D per (head, row), rows padded to a multiple of 16 for SIMD loads.
        var rowStats = [Float](repeating: 0, count: 2 * heads * mPadded)
        if let logSumExp {
            for h in 0..<heads { for row in 0..<m { rowStats[h * mPadded + row] = logSumExp[h * m + row] } }
        }
        let layout = [(q, mPadded), (k, nPadded), (v, nPadded), (gradOut, mPadded)]
        // The one pass reads Q^T and dO^T from the head-major rows (a transposed A), so only the
        // three passes need their transposed copies; one float stands in for an unused copy.
        let transposed = try layout.enumerated().map { index, operand in
            plan.usesOnePass && (index == 0 || index == 3) ? [0] : try transposedPadded(operand.0, operand.1)
        }
        // Head-major rows padded to whole micro-kernel panels, so they serve as B in place.
        let panel = TileShape.host.columns
        let paddedWidths = [plan.headDim, plan.headDim, plan.headDimV, plan.headDimV].map { ($0 + panel - 1) / panel * panel }
        let headMajor = try zip(layout, paddedWidths).map { try headRows($0.0.0, $0.0.1, heads: heads, paddedWidth: $0.1) }

        out.data.withUnsafeBufferPointer { ob in
        gradOut.data.withUnsafeBufferPointer { gb in
        headMajor[0].withUnsafeBufferPointer { qhb in
        headMajor[1].withUnsafeBufferPointer { khb in
        headMajor[2].withUnsafeBufferPointer { vhb in
        headMajor[3].withUnsafeBufferPointer { ghb in
        transposed[0].withUnsafeBufferPointer { qtb in
        transposed[1].withUnsafeBufferPointer { ktb in
        transposed[2].withUnsafeBufferPointer { vtb in
        transposed[3].withUnsafeBufferPointer { gtb in
        rowStats.withUnsafeMutableBufferPointer { sb in
        gradients.q.data.withUnsafeMutableBufferPointer { dqb in
        gradients.k.data.withUnsafeMutableBufferPointer { dkb in
        gradients.v.data.withUnsafeMutableBufferPointer { dvb in
            // Every buffer is non-empty here (m, n, dim, dimV >= 1).
            guard let o = ob.baseAddress, let g = gb.baseAddress,
                  let qh = qhb.baseAddress, let kh = khb.baseAddress, let vh = vhb.baseAddress, let gh = ghb.baseAddress,
                  let qt = qtb.baseAddress, let kt = ktb.baseAddress, let vt = vtb.baseAddress, let gt = gtb.baseAddress,
                  let s = sb.baseAddress, let dq = dqb.baseAddress, let dk = dkb.baseAddress, let dv = dvb.baseAddress else { return }
            let io = BackwardIO(out: o, gradOut: g, qh: qh, kh: kh, vh: vh, gh: gh, qT: qt, kT: kt, vT: vt, gT: gt, mPadded: mPadded, nPadded: nPadded,
                                hdP: paddedWidths[0], hdvP: paddedWidths[2], stats: s, dq: dq, dk: dk, dv: dv, plan: plan)
            let queryBlocks = (m + backwardBlock - 1) / backwardBlock, keyBlocks = (n + backwardBlock - 1) / backwardBlock
            let knowsLogSumExp = logSumExp != nil
            Parallel.forEach(chunks: heads * queryBlocks) {
                io.rowStatistics(head: $0 / queryBlocks, block: $0 % queryBlocks, logSumExpKnown: knowsLogSumExp)
            }
            if Cancellation.isRequested { return }
            if plan.usesOnePass {
                io.onePass()
                return
            }
            Parallel.forEach(chunks: heads * keyBlocks) { io.keyGradients(head: $0 / keyBlocks, block: $0 % keyBlocks) }
            if Cancellation.isRequested { return }
            Parallel.forEach(chunks: heads * queryBlocks) { io.queryGradients(head: $0 / queryBlocks, block: $0 % queryBlocks) }
        }}}}}}}}}}}}}}
        try Cancellation.check()
        return gradients
    }

    /// x [rows, cols] as [cols, paddedRows] (zero padding).
    static func transposedPadded(_ x: Tensor, _ paddedRows: Int) throws -> [Float] {
        let (rows, cols) = (x.shape[0], x.shape[1])
        try MemoryLimit.reserve(cols * paddedRows)
        var out = [Float](repeating: 0, count: cols * paddedRows)
        out.withUnsafeMutableBufferPointer { output in
            if let target = output.baseAddress, rows > 0 { x.transposeMatrix(into: target, rowLength: paddedRows) }
        }
        return out
    }

    /// x [rows, heads * hd] as [heads, paddedRows, paddedWidth]: each head's columns as a
    /// row-major matrix, zero-padded.
    static func headRows(_ x: Tensor, _ paddedRows: Int, heads: Int, paddedWidth: Int) throws -> [Float] {
        let (rows, cols) = (x.shape[0], x.shape[1]), width = cols / heads
        try MemoryLimit.reserve(heads * paddedWidth * paddedRows)
        var out = [Float](repeating: 0, count: heads * paddedWidth * paddedRows)
        x.data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                guard let source = input.baseAddress, let target = output.baseAddress else { return }
                for h in 0..<heads {
                    for r in 0..<rows { (target + (h * paddedRows + r) * paddedWidth).copyShortRow(from: source + r * cols + h * width, count: width) }
                }
            }
        }
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

/// The three passes over one head's tiles. Per head, the inputs are laid out twice: row-major
/// [rows (padded to 16), head dim padded to a panel (hdP, hdvP)] (Qh, Kh, Vh, Gh) and transposed
/// [head dim, rows] (qT, kT, vT, gT), so that every product below is a plain row-major GEMM that
/// the micro-kernel reads in place (Gemm.multiplyUnpacked).
struct BackwardIO: @unchecked Sendable {
    typealias V = SIMD16<Float>
    let out, gradOut: UnsafePointer<Float>
    let qh, kh, vh, gh: UnsafePointer<Float>
    let qT, kT, vT, gT: UnsafePointer<Float>
    let mPadded, nPadded: Int
    /// Row lengths of Qh/Kh and Vh/Gh: the head dimensions padded to whole panels.
    let hdP, hdvP: Int
    let stats, dq, dk, dv: UnsafeMutablePointer<Float>
    let plan: BackwardPlan
    static let log2e: Float = 1.442695041

    var hd: Int { plan.headDim }
    var hdv: Int { plan.headDimV }
    func lse(_ head: Int) -> UnsafeMutablePointer<Float> { stats + head * mPadded }
    func delta(_ head: Int) -> UnsafeMutablePointer<Float> { stats + (plan.heads + head) * mPadded }

    @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) func store(_ x: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: x, as: V.self) }

    /// Lanes of the 16 indices from `first` in start..<end.
    @inline(__always) func lanes(_ first: Int, _ start: Int, _ end: Int) -> SIMDMask<SIMD16<Int32>> {
        let index = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) &+ Int32(first)
        return (index .>= SIMD16<Int32>(repeating: Int32(start))) .& (index .< SIMD16<Int32>(repeating: Int32(end)))
    }

    /// One row of P and dS: P = exp(scale * s - lse) over `count` (multiple of 16) columns, zero
    /// outside start..<end, into `p` (which holds the scores); dS = P * (dP - D) * scale in place
    /// over dP.
    @inline(__always) func probabilitiesAndScoreGradients(_ p: UnsafeMutablePointer<Float>, _ dP: UnsafeMutablePointer<Float>, count: Int,
                                                          lse: (Int) -> V, delta: (Int) -> V, start: Int, end: Int) {
        let scaleLog2 = V(repeating: plan.scale * BackwardIO.log2e), log2e = V(repeating: BackwardIO.log2e)
        let scale = V(repeating: plan.scale)
        for first in stride(from: 0, to: count, by: 16) {
            let probability = FastExp.exp2(load(p + first) * scaleLog2 - lse(first) * log2e).replacing(with: 0, where: .!lanes(first, start, end))
            store(probability, p + first)
            store(probability * (load(dP + first) - delta(first)) * scale, dP + first)
        }
    }

    /// A tile for a GEMM result (the GEMM writes every element, so it is not cleared first).
    func scratch(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutablePointer<Float>.allocate(capacity: count)
    }

    /// Pass 0: each row's log-sum-exp of its scores (unless the forward gave it), and D = dO . O.
    func rowStatistics(head: Int, block: Int, logSumExpKnown: Bool) {
        let start = block * Attention.backwardBlock, rows = min(plan.m, start + Attention.backwardBlock) - start
        if logSumExpKnown {
            for row in start..<(start + rows) { delta(head)[row] = rowDelta(head: head, row: row) }
            return
        }
        let s = scratch(rows * nPadded)
        defer { s.deallocate() }
        Gemm.multiplyUnpacked(qh + (head * mPadded + start) * hdP, lda: hdP, kT + head * hd * nPadded, ldb: nPadded, s, ldc: nPadded,
                              m: rows, n: nPadded, k: hd, accumulate: false)
        for r in 0..<rows {
            let row = start + r, keyEnd = plan.keyEnd(row: row), scores = s + r * nPadded
            // The largest scaled score (the scale may be negative), then the sum of exponentials.
            let scale = V(repeating: plan.scale)
            var top = V(repeating: -.infinity)
            for first in stride(from: 0, to: keyEnd, by: 16) {
                top = top.replacing(with: load(scores + first) * scale, where: (load(scores + first) * scale .> top) .& lanes(first, 0, keyEnd))
            }
            let maximum = OnlineSoftmax.largestLane(top)
            let shift = V(repeating: maximum * BackwardIO.log2e), scaleLog2 = scale * BackwardIO.log2e
            // Eight lanes of sums in index order, as the forward keeps them.
            var sum = SIMD8<Float>()
            for first in stride(from: 0, to: keyEnd, by: 16) {
                let p = FastExp.exp2(load(scores + first) * scaleLog2 - shift).replacing(with: 0, where: .!lanes(first, 0, keyEnd))
                sum += p.lowHalf
                sum += p.highHalf
            }
            lse(head)[row] = maximum + log(sum.sum())
            delta(head)[row] = rowDelta(head: head, row: row)
        }
    }

    /// D = dO . O over the head's columns of one row.
    func rowDelta(head: Int, row: Int) -> Float {
        var d: Float = 0
        let offset = row * plan.dimV + head * hdv
        for c in 0..<hdv { d += gradOut[offset + c] * out[offset + c] }
        return d
    }

    /// Pass A: dk and dv for one block of keys, from every query: P^T, dP^T, dS^T as [keys, mPadded] tiles.
    func keyGradients(head: Int, block: Int) {
        if Cancellation.isRequested { return }
        let start = block * Attention.backwardBlock, keys = min(plan.n, start + Attention.backwardBlock) - start
        let p = scratch(keys * mPadded), dS = scratch(keys * mPadded), dkTile = scratch(keys * hdP), dvTile = scratch(keys * hdvP)
        defer { p.deallocate(); dS.deallocate(); dkTile.deallocate(); dvTile.deallocate() }
        Gemm.multiplyUnpacked(kh + (head * nPadded + start) * hdP, lda: hdP, qT + head * hd * mPadded, ldb: mPadded, p, ldc: mPadded,
                              m: keys, n: mPadded, k: hd, accumulate: false)
        Gemm.multiplyUnpacked(vh + (head * nPadded + start) * hdvP, lda: hdvP, gT + head * hdv * mPadded, ldb: mPadded, dS, ldc: mPadded,
                              m: keys, n: mPadded, k: hdv, accumulate: false)
        let lseRow = lse(head), deltaRow = delta(head)
        for r in 0..<keys {
            let key = start + r
            probabilitiesAndScoreGradients(p + r * mPadded, dS + r * mPadded, count: mPadded, lse: { load(lseRow + $0) },
                                           delta: { load(deltaRow + $0) }, start: plan.causal ? key : 0, end: plan.m)
        }
        let (shapeV, widthV) = Gemm.tileShape(forWidth: hdv, padded: hdvP), (shapeK, widthK) = Gemm.tileShape(forWidth: hd, padded: hdP)
        Gemm.multiplyUnpacked(p, lda: mPadded, gh + head * mPadded * hdvP, ldb: hdvP, dvTile, ldc: hdvP, m: keys, n: widthV, k: mPadded, accumulate: false, shape: shapeV)
        Gemm.multiplyUnpacked(dS, lda: mPadded, qh + head * mPadded * hdP, ldb: hdP, dkTile, ldc: hdP, m: keys, n: widthK, k: mPadded, accumulate: false, shape: shapeK)
        for r in 0..<keys {
            (dk + (start + r) * plan.dim + head * hd).copyShortRow(from: dkTile + r * hdP, count: hd)
            (dv + (start + r) * plan.dimV + head * hdv).copyShortRow(from: dvTile + r * hdvP, count: hdv)
        }
    }

    /// Pass B: dq for one block of queries, from every key they see: P, dP, dS as [rows, nPadded] tiles.
    func queryGradients(head: Int, block: Int) {
        if Cancellation.isRequested { return }
        let start = block * Attention.backwardBlock, rows = min(plan.m, start + Attention.backwardBlock) - start
        let p = scratch(rows * nPadded), dS = scratch(rows * nPadded), dqTile = scratch(rows * hdP)
        defer { p.deallocate(); dS.deallocate(); dqTile.deallocate() }
        queryBlockGradients(head: head, start: start, rows: rows, p: p, dS: dS, dqTile: dqTile)
    }

    /// For `rows` query rows from `start`: P and dS as [rows, nPadded] tiles (left in p and dS for the
    /// one pass's dk and dv), and the rows' dq.
    func queryBlockGradients(head: Int, start: Int, rows: Int, p: UnsafeMutablePointer<Float>, dS: UnsafeMutablePointer<Float>,
                             dqTile: UnsafeMutablePointer<Float>) {
        scoreTiles(head: head, start: start, rows: rows, p: p, dP: dS)
        for r in 0..<rows {
            let row = start + r
            let rowLse = V(repeating: lse(head)[row]), rowDelta = V(repeating: delta(head)[row])
            probabilitiesAndScoreGradients(p + r * nPadded, dS + r * nPadded, count: nPadded, lse: { _ in rowLse },
                                           delta: { _ in rowDelta }, start: 0, end: plan.keyEnd(row: row))
        }
        queryGradientRows(head: head, start: start, rows: rows, dS: dS, tile: dqTile)
    }

    /// S = Qb K^T and dP = dOb V^T for `rows` query rows from `start`: [rows, nPadded] tiles.
    func scoreTiles(head: Int, start: Int, rows: Int, p: UnsafeMutablePointer<Float>, dP: UnsafeMutablePointer<Float>) {
        Gemm.multiplyUnpacked(qh + (head * mPadded + start) * hdP, lda: hdP, kT + head * hd * nPadded, ldb: nPadded, p, ldc: nPadded,
                              m: rows, n: nPadded, k: hd, accumulate: false)
        Gemm.multiplyUnpacked(gh + (head * mPadded + start) * hdvP, lda: hdvP, vT + head * hdv * nPadded, ldb: nPadded, dP, ldc: nPadded,
                              m: rows, n: nPadded, k: hdv, accumulate: false)
    }

    /// dq = dS K for the rows from `start`, through a [rows, hdP] tile.
    func queryGradientRows(head: Int, start: Int, rows: Int, dS: UnsafePointer<Float>, tile: UnsafeMutablePointer<Float>) {
        let (shape, width) = Gemm.tileShape(forWidth: hd, padded: hdP)
        Gemm.multiplyUnpacked(dS, lda: nPadded, kh + head * nPadded * hdP, ldb: hdP, tile, ldc: hdP, m: rows, n: width, k: nPadded, accumulate: false, shape: shape)
        for r in 0..<rows { (dq + (start + r) * plan.dim + head * hd).copyShortRow(from: tile + r * hdP, count: hd) }
    }
}
