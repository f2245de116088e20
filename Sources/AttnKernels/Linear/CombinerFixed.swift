import Foundation

// Combiner-Fixed (combiner.md; Ren et al., NeurIPS 2021). The sequence is cut into segments of
// length s (default ceil(sqrt N); the last may be shorter). Each segment r has a summary query
// qs_r = pool(q rows), summary key ks_r = pool(k rows) (max or mean) and summary value
// vs_r = softmax(scale qs_r k_r^T) v_r. Query i in segment r(i) takes ONE softmax over
//   [scale q_i . k_j for j in r(i)] ++ [scale q_i . ks_r' for every segment r']
// (causal: j <= i, and only r' < r(i)) and returns sum_j p_ij v_j + sum_r' p_ir' vs_r'.
// Every position reaches every other, directly or through a summary: O(N (s + N/s)).
public enum CombinerFixed {
    public enum Pool: String, Sendable { case max, mean }

    public struct Result {
        public var output: Tensor
        public var tokens: Double
        public var flops: Double
    }

    public static func segmentLength(n: Int, seg: Int?) throws -> Int {
        if let seg {
            guard seg >= 1 else { throw KernelError.invalidArgument("combiner seg must be at least 1, got \(seg)") }
            return seg
        }
        return max(1, Int(Double(n).squareRoot().rounded(.up)))
    }

    public static func forward(q: Tensor, k: Tensor, v: Tensor, seg: Int? = nil, pool: Pool = .max, causal: Bool = false) throws -> Result {
        for (name, t) in [("q", q), ("k", k), ("v", v)] where t.rank != 2 {
            throw KernelError.invalidShape("combiner needs `\(name)` to be a matrix [N, dim], got shape \(formatShape(t.shape))")
        }
        guard q.shape == k.shape else { throw KernelError.shapeMismatch("combiner needs q and k of the same shape (one query per position)", q.shape, k.shape) }
        guard v.shape[0] == k.shape[0] else { throw KernelError.shapeMismatch("combiner needs k and v with the same number of tokens", k.shape, v.shape) }
        let n = q.shape[0], d = q.shape[1], dv = v.shape[1]
        guard n >= 1 else { throw KernelError.invalidArgument("combiner needs at least one token") }
        let s = try segmentLength(n: n, seg: seg)
        let segments = (n + s - 1) / s
        let scale = d > 0 ? 1 / Float(d).squareRoot() : 1
        try MemoryLimit.reserve(segments * (d + dv) + n * dv)

        // Summaries.
        var summaryKeys = [Float](repeating: 0, count: segments * d)
        var summaryValues = [Float](repeating: 0, count: segments * dv)
        for r in 0..<segments {
            let lo = r * s, hi = min(n, lo + s)
            var summaryQuery = [Float](repeating: 0, count: d)
            for c in 0..<d {
                var qAgg: Float = pool == .max ? -.infinity : 0, kAgg: Float = pool == .max ? -.infinity : 0
                for j in lo..<hi {
                    let qv = q.data[j * d + c], kv = k.data[j * d + c]
                    if pool == .max { qAgg = max(qAgg, qv); kAgg = max(kAgg, kv) } else { qAgg += qv; kAgg += kv }
                }
                if pool == .mean { qAgg /= Float(hi - lo); kAgg /= Float(hi - lo) }
                summaryQuery[c] = qAgg
                summaryKeys[r * d + c] = kAgg
            }
            let logits = (lo..<hi).map { j in dot(summaryQuery, 0, k.data, j * d, d) * scale }
            let weights = softmax(logits)
            for (offset, j) in (lo..<hi).enumerated() {
                for c in 0..<dv { summaryValues[r * dv + c] += weights[offset] * v.data[j * dv + c] }
            }
        }

        var out = try Tensor(zeros: [n, dv])
        var supportSizes = [Int](repeating: 0, count: n)
        out.data.withUnsafeMutableBufferPointer { ob in
            supportSizes.withUnsafeMutableBufferPointer { sizes in
                let io = RowIO(out: ob.baseAddress, sizes: sizes.baseAddress)
                Parallel.forEach(chunks: segments) { r in
                    if Cancellation.isRequested { return }
                    let lo = r * s, hi = min(n, lo + s)
                    for i in lo..<hi {
                        let directEnd = causal ? i + 1 : hi
                        let summaryCount = causal ? r : segments
                        var logits = [Float]()
                        logits.reserveCapacity(directEnd - lo + summaryCount)
                        for j in lo..<directEnd { logits.append(dot(q.data, i * d, k.data, j * d, d) * scale) }
                        for r2 in 0..<summaryCount { logits.append(dot(q.data, i * d, summaryKeys, r2 * d, d) * scale) }
                        let weights = softmax(logits)
                        guard let destination = io.out.map({ $0 + i * dv }) else { return }
                        for (offset, j) in (lo..<directEnd).enumerated() {
                            for c in 0..<dv { destination[c] += weights[offset] * v.data[j * dv + c] }
                        }
                        let direct = directEnd - lo
                        for r2 in 0..<summaryCount {
                            for c in 0..<dv { destination[c] += weights[direct + r2] * summaryValues[r2 * dv + c] }
                        }
                        io.sizes?[i] = direct + summaryCount
                    }
                }
            }
        }
        try Cancellation.check()
        let support = supportSizes.reduce(0, +)
        let flops = 2 * Double(n) * Double(d + dv) + 2 * Double(support) * Double(d + dv) + 2 * Double(segments) * Double(d)
        return Result(output: out, tokens: Double(support) / Double(n), flops: flops)
    }

    struct RowIO: @unchecked Sendable {
        let out: UnsafeMutablePointer<Float>?
        let sizes: UnsafeMutablePointer<Int>?
    }

    @inline(__always)
    static func dot(_ a: [Float], _ aOffset: Int, _ b: [Float], _ bOffset: Int, _ count: Int) -> Float {
        var total: Float = 0
        for c in 0..<count { total += a[aOffset + c] * b[bOffset + c] }
        return total
    }

    static func softmax(_ logits: [Float]) -> [Float] {
        let top = logits.max() ?? 0
        let exps = logits.map { expf($0 - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }
}
