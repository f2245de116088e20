import Foundation

// The attention backward in one pass over the query blocks when the keys are few (training on
// short sequences): each [64, keys] tile of P and dS is computed once and gives dq, dk and dv
// together, where the three-pass form computes every tile twice (per key block for dk and dv,
// per query block for dq). dk and dv are sums over query rows: each (head, group of query rows)
// chunk adds its blocks, in order, into its own transposed partials dk^T [hd, keys] and
// dv^T [hdv, keys], and the partials are then summed in group order, so the bits do not depend
// on the thread count. The partials cost (dim + dimV) x keys floats per group, hence the limits.
extension BackwardPlan {
    static let onePassGroupRows = 256
    static let onePassMaxKeys = 1024
    static let onePassMaxPartialFloats = 1 << 22

    var queryGroups: Int { (m + Self.onePassGroupRows - 1) / Self.onePassGroupRows }

    var usesOnePass: Bool {
        n <= Self.onePassMaxKeys && queryGroups * (dim + dimV) * ((n + 7) / 8 * 8) <= Self.onePassMaxPartialFloats
    }
}

extension BackwardIO {
    /// Replaces passes A and B; the row statistics (lse, D) are already in `stats`.
    func onePass() {
        let groups = plan.queryGroups, partialSize = (hd + hdv) * n8
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: plan.heads * groups * partialSize)
        defer { partials.deallocate() }
        Parallel.forEach(chunks: plan.heads * groups) { chunk in
            queryGroupGradients(head: chunk / groups, group: chunk % groups, partial: partials + chunk * partialSize)
        }
        if Cancellation.isRequested { return }
        let keyBlocks = (plan.n + Attention.backwardBlock - 1) / Attention.backwardBlock
        Parallel.forEach(chunks: plan.heads * keyBlocks) { chunk in
            let head = chunk / keyBlocks
            sumPartials(head: head, block: chunk % keyBlocks, groups: groups,
                        partials: partials + head * groups * partialSize, partialSize: partialSize)
        }
    }

    /// dq for the group's rows, and the group's dk^T then dv^T into `partial`.
    private func queryGroupGradients(head: Int, group: Int, partial: UnsafeMutablePointer<Float>) {
        if Cancellation.isRequested { return }
        let groupStart = group * BackwardPlan.onePassGroupRows
        let groupEnd = min(plan.m, groupStart + BackwardPlan.onePassGroupRows)
        let block = Attention.backwardBlock
        let p = scratch(block * n8), dS = scratch(block * n8), dqTile = scratch(block * hdP)
        defer { p.deallocate(); dS.deallocate(); dqTile.deallocate() }
        let dkT = partial, dvT = partial + hd * n8
        var start = groupStart
        while start < groupEnd {
            let rows = min(groupEnd, start + block) - start
            scoreTiles(head: head, start: start, rows: rows, p: p, dP: dS)
            for r in 0..<rows {
                let row = start + r
                let rowLse = V(repeating: lse(head)[row]), rowDelta = V(repeating: delta(head)[row])
                probabilities(p + r * n8, count: n8, lse: { _ in rowLse }, start: 0, end: plan.keyEnd(row: row))
                scoreGradients(p + r * n8, dS + r * n8, count: n8, delta: { _ in rowDelta })
            }
            queryGradientRows(head: head, start: start, rows: rows, dS: dS, tile: dqTile)
            // dk^T += Qb^T dS and dv^T += dOb^T P, reading Qb and dOb's head-major rows as A^T.
            let adds = start > groupStart
            Gemm.multiplyUnpacked(qh + (head * m8 + start) * hdP, lda: hdP, aTransposed: true, dS, ldb: n8, dkT, ldc: n8,
                                  m: hd, n: n8, k: rows, accumulate: adds)
            Gemm.multiplyUnpacked(gh + (head * m8 + start) * hdvP, lda: hdvP, aTransposed: true, p, ldb: n8, dvT, ldc: n8,
                                  m: hdv, n: n8, k: rows, accumulate: adds)
            start += rows
        }
    }

    /// dk and dv rows of one key block: the groups' partials summed in group order.
    private func sumPartials(head: Int, block: Int, groups: Int, partials: UnsafePointer<Float>, partialSize: Int) {
        let start = block * Attention.backwardBlock, end = min(plan.n, start + Attention.backwardBlock)
        // Column by column: the partials' rows are read contiguously; the block's dk and dv rows
        // being written stay in cache.
        for c in 0..<(hd + hdv) {
            let (target, stride) = c < hd ? (dk + head * hd + c, plan.dim) : (dv + head * hdv + c - hd, plan.dimV)
            for key in start..<end {
                var sum: Float = 0
                for g in 0..<groups { sum += partials[g * partialSize + c * n8 + key] }
                target[key * stride] = sum
            }
        }
    }
}
