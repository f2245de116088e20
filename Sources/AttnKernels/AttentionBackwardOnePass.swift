import Foundation

// The attention backward in one pass over the query blocks when the keys are few (training on
// short sequences): each [64, keys] tile of P and dS is computed once and gives dq, dk and dv
// together, where the three-pass form computes every tile twice (per key block for dk and dv,
// per query block for dq). dk and dv are sums over query rows: each (head, group of query rows)
// chunk adds its blocks, in order, into its own partials dk [keys, hdP] and dv [keys, hdvP]
// (dS^T Qb and P^T dOb, with dS and P read in place as transposed operands), and the partials
// are then summed in group order, so the bits do not depend on the thread count. The partials
// cost about (dim + dimV) x keys floats per group, hence the limits.
extension BackwardPlan {
    static let onePassGroupRows = 256
    static let onePassMaxKeys = 1024
    static let onePassMaxPartialFloats = 1 << 22

    var queryGroups: Int { (m + Self.onePassGroupRows - 1) / Self.onePassGroupRows }

    var usesOnePass: Bool {
        n <= Self.onePassMaxKeys && queryGroups * (dim + dimV) * ((n + 15) / 16 * 16) <= Self.onePassMaxPartialFloats
    }
}

extension BackwardIO {
    /// Replaces passes A and B; the row statistics (lse, D) are already in `stats`.
    func onePass() {
        let groups = plan.queryGroups, partialSize = nPadded * (hdP + hdvP)
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

    /// dq for the group's rows, and the group's dk then dv into `partial`.
    private func queryGroupGradients(head: Int, group: Int, partial: UnsafeMutablePointer<Float>) {
        if Cancellation.isRequested { return }
        let groupStart = group * BackwardPlan.onePassGroupRows
        let groupEnd = min(plan.m, groupStart + BackwardPlan.onePassGroupRows)
        let block = Attention.backwardBlock
        let p = scratch(block * nPadded), dS = scratch(block * nPadded), dqTile = scratch(block * hdP)
        defer { p.deallocate(); dS.deallocate(); dqTile.deallocate() }
        let dkPartial = partial, dvPartial = partial + nPadded * hdP
        let (shapeK, widthK) = Gemm.tileShape(forWidth: hd, padded: hdP), (shapeV, widthV) = Gemm.tileShape(forWidth: hdv, padded: hdvP)
        var start = groupStart
        while start < groupEnd {
            let rows = min(groupEnd, start + block) - start
            queryBlockGradients(head: head, start: start, rows: rows, p: p, dS: dS, dqTile: dqTile)
            // dk += dS^T Qb and dv += P^T dOb, over the keys (not the padding).
            let adds = start > groupStart
            Gemm.multiplyUnpacked(dS, lda: nPadded, aTransposed: true, qh + (head * mPadded + start) * hdP, ldb: hdP, dkPartial, ldc: hdP,
                                  m: plan.n, n: widthK, k: rows, accumulate: adds, shape: shapeK)
            Gemm.multiplyUnpacked(p, lda: nPadded, aTransposed: true, gh + (head * mPadded + start) * hdvP, ldb: hdvP, dvPartial, ldc: hdvP,
                                  m: plan.n, n: widthV, k: rows, accumulate: adds, shape: shapeV)
            start += rows
        }
    }

    /// dk and dv rows of one key block: the groups' partials summed in group order.
    private func sumPartials(head: Int, block: Int, groups: Int, partials: UnsafePointer<Float>, partialSize: Int) {
        let start = block * Attention.backwardBlock, end = min(plan.n, start + Attention.backwardBlock)
        for key in start..<end {
            let dkRow = dk + key * plan.dim + head * hd, dvRow = dv + key * plan.dimV + head * hdv
            for c in 0..<hd { dkRow[c] = partials[key * hdP + c] }
            for c in 0..<hdv { dvRow[c] = partials[nPadded * hdP + key * hdvP + c] }
            for g in 1..<groups {
                let partial = partials + g * partialSize
                for c in 0..<hd { dkRow[c] += partial[key * hdP + c] }
                for c in 0..<hdv { dvRow[c] += partial[nPadded * hdP + key * hdvP + c] }
            }
        }
    }
}
