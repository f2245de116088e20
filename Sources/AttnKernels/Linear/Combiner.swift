import Foundation

// Combiner's factorisations (combiner.md) as one mechanism: every query i takes ONE softmax over
// a set of direct keys and a set of region summaries (summary key, summary value), and returns
// sum_j p_ij v_j + sum_R p_iR vs_R. The variants differ only in which sets:
//   fixed:     direct = i's segment (causal: j <= i); summaries = every segment (causal: earlier);
//              summary key = pooled keys, value = attention inside the segment with the pooled query.
//   axial:     the sequence as rows of length s; direct = i's row (causal: j <= i); summaries =
//              every OTHER row (causal: earlier rows); summary key = the attention-weighted keys of
//              the row (weights from the pooled query), value = the row's attention output.
//   logsparse: direct = {i}; summaries = the aligned power-of-two blocks that tile [0, i) (and, not
//              causal, (i, N)), sizes growing with the distance; each summarised as in fixed.
//              O(log N) per query; the block summaries (a segment tree) cost O(N log N) once.
//   mixture:   the union of the three supports in one softmax (the paper's Combiner-Mixture).
// Every summary is computed once; queries run in fixed chunks in parallel.
public enum Combiner {
    public enum Variant: String, Sendable, CaseIterable { case fixed, axial, logsparse, mixture }

    /// A region summarised by (key, value); `first ..< end` are its positions.
    struct Region {
        let first: Int
        let end: Int
    }

    struct Summaries {
        var keys: [Float]
        var values: [Float]
        var count: Int
    }

    public static func forward(q: Tensor, k: Tensor, v: Tensor, variant: Variant, seg: Int? = nil,
                               pool: CombinerFixed.Pool = .max, causal: Bool = false) throws -> CombinerFixed.Result {
        for (name, t) in [("q", q), ("k", k), ("v", v)] where t.rank != 2 {
            throw KernelError.invalidShape("combiner needs `\(name)` to be a matrix [N, dim], got shape \(formatShape(t.shape))")
        }
        guard q.shape == k.shape else { throw KernelError.shapeMismatch("combiner needs q and k of the same shape (one query per position)", q.shape, k.shape) }
        guard v.shape[0] == k.shape[0] else { throw KernelError.shapeMismatch("combiner needs k and v with the same number of tokens", k.shape, v.shape) }
        let n = q.shape[0], d = q.shape[1], dv = v.shape[1]
        guard n >= 1 else { throw KernelError.invalidArgument("combiner needs at least one token") }
        let s = try CombinerFixed.segmentLength(n: n, seg: seg)
        let scale = d > 0 ? 1 / Float(d).squareRoot() : 1
        let rows = (n + s - 1) / s
        let segmentRegions = (0..<rows).map { Region(first: $0 * s, end: min(n, $0 * s + s)) }
        // Dyadic blocks: level l has blocks [b 2^l, (b+1) 2^l).
        var levels = 0
        while (1 << levels) < n { levels += 1 }
        let dyadic = (0...levels).flatMap { l in (0..<((n + (1 << l) - 1) >> l)).map { Region(first: $0 << l, end: min(n, ($0 + 1) << l)) } }
        try MemoryLimit.reserve((rows * 2 + dyadic.count) * (d + dv) + n * dv)

        let useFixed = variant == .fixed || variant == .mixture, useAxial = variant == .axial || variant == .mixture
        let useLog = variant == .logsparse || variant == .mixture
        let fixedSummaries = useFixed ? summarise(segmentRegions, q, k, v, pool: pool, weightedKeys: false, scale: scale) : nil
        let axialSummaries = useAxial ? summarise(segmentRegions, q, k, v, pool: pool, weightedKeys: true, scale: scale) : nil
        let logSummaries = useLog ? summarise(dyadic, q, k, v, pool: pool, weightedKeys: false, scale: scale) : nil
        // Index of block [b 2^l, ...) in `dyadic`.
        var levelStart = [Int](repeating: 0, count: levels + 2)
        for l in 0...levels { levelStart[l + 1] = levelStart[l] + (n + (1 << l) - 1) >> l }

        var out = try Tensor(zeros: [n, dv])
        var sizes = [Int](repeating: 0, count: n)
        let chunk = 64
        out.data.withUnsafeMutableBufferPointer { ob in
            sizes.withUnsafeMutableBufferPointer { sb in
                let io = CombinerFixed.RowIO(out: ob.baseAddress, sizes: sb.baseAddress)
                Parallel.forEach(chunks: (n + chunk - 1) / chunk) { c in
                    if Cancellation.isRequested { return }
                    for i in (c * chunk)..<min(n, (c + 1) * chunk) {
                        let row = i / s
                        // Direct keys.
                        var direct = [Int]()
                        if variant == .logsparse {
                            direct = [i]
                        } else {
                            let region = segmentRegions[row]
                            direct = Array(region.first..<(causal ? i + 1 : region.end))
                        }
                        // Summaries as (table, index) pairs.
                        var summaryRefs = [(Summaries, Int)]()
                        if let fixed = fixedSummaries {
                            for r in 0..<(causal ? row : rows) { summaryRefs.append((fixed, r)) }
                        }
                        if let axial = axialSummaries {
                            for r in 0..<(causal ? row : rows) where r != row { summaryRefs.append((axial, r)) }
                        }
                        if let logs = logSummaries {
                            for block in dyadicCover(from: 0, to: i, levels: levels) { summaryRefs.append((logs, levelStart[block.level] + block.index)) }
                            if !causal {
                                for block in dyadicCover(from: i + 1, to: n, levels: levels) { summaryRefs.append((logs, levelStart[block.level] + block.index)) }
                            }
                        }
                        var logits = direct.map { j in CombinerFixed.dot(q.data, i * d, k.data, j * d, d) * scale }
                        for (table, r) in summaryRefs { logits.append(CombinerFixed.dot(q.data, i * d, table.keys, r * d, d) * scale) }
                        let weights = CombinerFixed.softmax(logits)
                        guard let destination = io.out.map({ $0 + i * dv }) else { return }
                        for (offset, j) in direct.enumerated() {
                            for c in 0..<dv { destination[c] += weights[offset] * v.data[j * dv + c] }
                        }
                        for (offset, (table, r)) in summaryRefs.enumerated() {
                            let weight = weights[direct.count + offset]
                            for c in 0..<dv { destination[c] += weight * table.values[r * dv + c] }
                        }
                        io.sizes?[i] = direct.count + summaryRefs.count
                    }
                }
            }
        }
        try Cancellation.check()
        let support = sizes.reduce(0, +)
        let summaryFlops = 2 * Double(n) * Double(d + dv) * Double((useFixed ? 1 : 0) + (useAxial ? 2 : 0) + (useLog ? levels + 1 : 0))
        return CombinerFixed.Result(output: out, tokens: Double(support) / Double(n),
                                    flops: summaryFlops + 2 * Double(support) * Double(d + dv))
    }

    /// The maximal aligned power-of-two blocks that tile [from, to), in increasing position.
    static func dyadicCover(from: Int, to: Int, levels: Int) -> [(level: Int, index: Int)] {
        var blocks = [(level: Int, index: Int)]()
        var position = from
        while position < to {
            var level = 0
            while level < levels, position % (1 << (level + 1)) == 0, position + (1 << (level + 1)) <= to { level += 1 }
            blocks.append((level, position >> level))
            position += 1 << level
        }
        return blocks
    }

    /// Summary key and value per region: the pooled query attends inside the region; the value is
    /// that attention's output, the key is the pooled keys or (weightedKeys) the attention-weighted keys.
    static func summarise(_ regions: [Region], _ q: Tensor, _ k: Tensor, _ v: Tensor, pool: CombinerFixed.Pool,
                          weightedKeys: Bool, scale: Float) -> Summaries {
        let d = q.shape[1], dv = v.shape[1]
        var keys = [Float](repeating: 0, count: regions.count * d)
        var values = [Float](repeating: 0, count: regions.count * dv)
        for (r, region) in regions.enumerated() {
            var pooledQuery = [Float](repeating: 0, count: d)
            for c in 0..<d {
                var qAgg: Float = pool == .max ? -.infinity : 0, kAgg: Float = pool == .max ? -.infinity : 0
                for j in region.first..<region.end {
                    let qv = q.data[j * d + c], kv = k.data[j * d + c]
                    if pool == .max { qAgg = max(qAgg, qv); kAgg = max(kAgg, kv) } else { qAgg += qv; kAgg += kv }
                }
                let count = Float(region.end - region.first)
                pooledQuery[c] = pool == .mean ? qAgg / count : qAgg
                if !weightedKeys { keys[r * d + c] = pool == .mean ? kAgg / count : kAgg }
            }
            let weights = CombinerFixed.softmax((region.first..<region.end).map { j in CombinerFixed.dot(pooledQuery, 0, k.data, j * d, d) * scale })
            for (offset, j) in (region.first..<region.end).enumerated() {
                for c in 0..<dv { values[r * dv + c] += weights[offset] * v.data[j * dv + c] }
                if weightedKeys { for c in 0..<d { keys[r * d + c] += weights[offset] * k.data[j * d + c] } }
            }
        }
        return Summaries(keys: keys, values: values, count: regions.count)
    }
}
