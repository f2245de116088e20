// FlashAttention's online softmax, in base 2, over one block of scores at a time. Per row:
//   m_new = max(m, rowmax S); P = 2^(S - m_new); l = l 2^(m - m_new) + rowsum P; O *= 2^(m - m_new)
// Rows go sixteen at a time: their maxima first, then their sixteen rescale factors from one
// vector exponential (row by row, the scalar exponential's calls were about 3% of attention's
// samples; the difference did not show through this machine's noise), then their
// probabilities. Sixteen rows of a block stay in the L1 cache meanwhile.
struct OnlineSoftmax {
    typealias V = SIMD16<Float>
    let rows: Int
    /// Per row: the running max m and sum l; scratch for a block's shifts and rescale factors.
    let runningMax, runningSum, shifts, corrections: UnsafeMutablePointer<Float>

    /// State for `rows` rows, with m = -inf and l = 0 (rows past `rows` up to a multiple of 16
    /// are padding lanes that stay -inf).
    init(rows: Int) {
        self.rows = rows
        let lanes = (rows + 15) / 16 * 16
        runningMax = .allocate(capacity: lanes)
        runningSum = .allocate(capacity: lanes)
        shifts = .allocate(capacity: lanes)
        corrections = .allocate(capacity: lanes)
        runningMax.update(repeating: -.infinity, count: lanes)
        runningSum.update(repeating: 0, count: lanes)
    }

    func deallocate() {
        runningMax.deallocate(); runningSum.deallocate(); shifts.deallocate(); corrections.deallocate()
    }

    /// One block: `scores` holds `rows` rows of `count` scores (`stride` apart; count a multiple
    /// of 16, masked entries -inf), which become probabilities; `acc`'s rows (accWidth apart, a
    /// multiple of 16 wide) are rescaled.
    @inline(__always)
    func step(scores: UnsafeMutablePointer<Float>, stride: Int, count: Int, acc: UnsafeMutablePointer<Float>, accWidth: Int) {
        var first = 0
        while first < rows {
            let group = min(16, rows - first)
            for r in 0..<16 {
                shifts[first + r] = r < group ? Self.rowMax(scores + (first + r) * stride, count: count) : -.infinity
            }
            updateMaxima(at: first)
            for r in first..<(first + group) {
                exponentiate(scores + r * stride, count: count, row: r, acc: acc + r * accWidth, accWidth: accWidth)
            }
            first += 16
        }
    }

    @inline(__always)
    static func rowMax(_ row: UnsafePointer<Float>, count: Int) -> Float {
        var blockMax = V(repeating: -.infinity)
        var j = 0
        while j < count {
            let scores = MicroKernel.load(row + j)
            blockMax = blockMax.replacing(with: scores, where: scores .> blockMax)
            j += 16
        }
        return largestLane(blockMax)
    }

    /// The largest of 16 lanes (none NaN), by halving: the standard library's `max()` goes lane
    /// by lane through memory (it cost the forward 5%).
    @inline(__always)
    static func largestLane(_ v: V) -> Float {
        let v8 = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let v4 = v8.lowHalf.replacing(with: v8.highHalf, where: v8.highHalf .> v8.lowHalf)
        let v2 = v4.lowHalf.replacing(with: v4.highHalf, where: v4.highHalf .> v4.lowHalf)
        return max(v2[0], v2[1])
    }

    /// Rows first..<first+16, whose block maxima are in `shifts`: m_new, the shift each row's
    /// scores subtract, and the factor 2^(m - m_new) for its sum and accumulator.
    @inline(__always)
    func updateMaxima(at first: Int) {
        let old = MicroKernel.load(runningMax + first), blockMax = MicroKernel.load(shifts + first)
        // max(old, blockMax) as Swift's max() picks (the second when they are equal).
        let new = old.replacing(with: blockMax, where: blockMax .>= old)
        // A row with nothing visible yet keeps m = -inf; its probabilities are all 0.
        let shift = new.replacing(with: 0, where: new .== -V.Scalar.infinity)
        // A row's first block has nothing to rescale (its sum and accumulator are 0): factor 1.
        let correction = FastExp.exp2(old - shift).replacing(with: 1, where: old .== -V.Scalar.infinity)
        MicroKernel.store(new, runningMax + first)
        MicroKernel.store(shift, shifts + first)
        MicroKernel.store(correction, corrections + first)
    }

    /// Row `row`'s probabilities 2^(s - shift), its sum l and its accumulator's rescale.
    @inline(__always)
    func exponentiate(_ scores: UnsafeMutablePointer<Float>, count: Int, row: Int, acc: UnsafeMutablePointer<Float>, accWidth: Int) {
        // Eight lanes of sums, each adding its elements in index order (the low half of every
        // 16 before the high half), so the total does not depend on the vector width.
        var sum = SIMD8<Float>()
        let shift = V(repeating: shifts[row])
        var j = 0
        while j < count {
            let p = FastExp.exp2(atMost127: MicroKernel.load(scores + j) - shift)
            MicroKernel.store(p, scores + j)
            sum += p.lowHalf
            sum += p.highHalf
            j += 16
        }
        let correction = corrections[row]
        runningSum[row] = runningSum[row] * correction + sum.sum()
        if correction != 1 {
            let factor = V(repeating: correction)
            var c = 0
            while c < accWidth {
                MicroKernel.store(MicroKernel.load(acc + c) * factor, acc + c)
                c += 16
            }
        }
    }
}
