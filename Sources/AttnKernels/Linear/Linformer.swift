// Linformer (baselines.md; Wang et al. 2020): keys and values are projected along the SEQUENCE
// axis to `proj` rows, k' = E k and v' = F v with E, F: [proj, N] (seeded Gaussian / sqrt(proj)
// by default, or given), then out = softmax(scale q k'^T) v'. Cost O(N proj d).
public enum Linformer {
    public static func projections(proj: Int, n: Int, seed: UInt64) throws -> (Tensor, Tensor) {
        guard proj >= 1 else { throw KernelError.invalidArgument("linformer proj must be at least 1, got \(proj)") }
        var rng = Xoshiro256(seed: seed)
        let scale = 1 / Float(proj).squareRoot()
        return (try Tensor.randn([proj, n], rng: &rng).scalarOp(.mul, scale), try Tensor.randn([proj, n], rng: &rng).scalarOp(.mul, scale))
    }

    public static func forward(q: Tensor, k: Tensor, v: Tensor, e: Tensor, f: Tensor) throws -> (Tensor, AttentionStats) {
        for (name, t) in [("k", k), ("v", v)] where t.rank != 2 {
            throw KernelError.invalidShape("linformer needs `\(name)` to be a matrix [N, d], got shape \(formatShape(t.shape))")
        }
        let n = k.shape[0]
        guard e.rank == 2, e.shape[1] == n else { throw KernelError.shapeMismatch("linformer `e` must be [proj, N]", e.shape, [e.shape.first ?? 0, n]) }
        guard f.shape == e.shape else { throw KernelError.shapeMismatch("linformer `f` must have the shape of `e`", f.shape, e.shape) }
        guard case let .tensor(keys) = try e.matmul(k), case let .tensor(values) = try f.matmul(v) else {
            throw KernelError.invalidShape("linformer: unexpected product")
        }
        var (out, stats) = try Attention.forward(q: q, k: keys, v: values)
        stats.flops += 2 * Double(e.shape[0]) * Double(n) * Double(k.shape[1] + v.shape[1])
        return (out, stats)
    }
}
