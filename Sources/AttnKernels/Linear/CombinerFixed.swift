import Foundation

// Combiner-Fixed (combiner.md; Ren et al., NeurIPS 2021). The sequence is cut into segments of
// length s (default ceil(sqrt N); the last may be shorter). Each segment r has a summary query
// qs_r = pool(q rows), summary key ks_r = pool(k rows) (max or mean) and summary value
// vs_r = softmax(scale qs_r k_r^T) v_r. Query i in segment r(i) takes ONE softmax over
//   [scale q_i . k_j for j in r(i)] ++ [scale q_i . ks_r' for every segment r']
// (causal: j <= i, and only r' < r(i)) and returns sum_j p_ij v_j + sum_r' p_ir' vs_r'.
// Every position reaches every other, directly or through a summary: O(N (s + N/s)).
// This file holds the spec's definition, the segment length rule and the small helpers the
// Combiner variants share; the computation itself is Combiner.forward (one mechanism for all).
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

    /// Combiner-Fixed through the shared mechanism in Combiner.swift.
    public static func forward(q: Tensor, k: Tensor, v: Tensor, seg: Int? = nil, pool: Pool = .max, causal: Bool = false) throws -> Result {
        try Combiner.forward(q: q, k: k, v: v, variant: .fixed, seg: seg, pool: pool, causal: causal)
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
