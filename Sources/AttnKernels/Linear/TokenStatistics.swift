import Foundation

// Token Statistics Self-Attention (tssa.md; Wu et al. 2024, the authors' AttentionTSSA):
//   w = x W; per head, each channel column of w is normalised over the tokens (L2, floor 1e-12);
//   e[h, n] = sum_c wn^2;  Pi = softmax over heads of e * temp;  pin = Pi / (sum_n Pi + 1e-8);
//   dots[h, c] = sum_n pin[h, n] w[n, hc]^2;  att = 1 / (1 + dots);
//   y[n, hc] = -(w[n, hc] Pi[h, n]) att[h, c];  out = y Wo + bias.
// No N x N matrix: O(N D) time and memory beyond the two D x D products. Reductions over tokens
// run in index order (Double accumulators), so results do not depend on threads.
public enum TokenStatistics {
    public struct Weights: Sendable {
        public var w: Tensor      // [D, D]
        public var out: Tensor    // [D, D]
        public var bias: Tensor   // [D]
        public var temp: Tensor   // [heads]

        /// Seeded weights: Gaussian / sqrt(D) projections, zero bias, temperatures 1.
        public static func seeded(dim: Int, heads: Int, seed: UInt64) throws -> Weights {
            var rng = Xoshiro256(seed: seed)
            let scale = 1 / Float(max(dim, 1)).squareRoot()
            return Weights(w: try Tensor.randn([dim, dim], rng: &rng).scalarOp(.mul, scale),
                           out: try Tensor.randn([dim, dim], rng: &rng).scalarOp(.mul, scale),
                           bias: try Tensor(zeros: [dim]), temp: try Tensor(shape: [heads], repeating: 1))
        }
    }

    public static func forward(x: Tensor, heads: Int, weights: Weights) throws -> (Tensor, Double) {
        guard x.rank == 2 else { throw KernelError.invalidShape("tssa needs tokens as a matrix [N, D], got shape \(formatShape(x.shape))") }
        let n = x.shape[0], dim = x.shape[1]
        guard heads >= 1, dim % heads == 0 else { throw KernelError.invalidArgument("tssa: heads=\(heads) must be at least 1 and divide D = \(dim)") }
        for (name, t, shape) in [("w", weights.w, [dim, dim]), ("out", weights.out, [dim, dim]), ("bias", weights.bias, [dim]), ("temp", weights.temp, [heads])]
        where t.shape != shape {
            throw KernelError.shapeMismatch("tssa `\(name)` must have shape \(formatShape(shape))", t.shape, shape)
        }
        guard case let .tensor(w) = try x.matmul(weights.w) else { throw KernelError.invalidShape("tssa: unexpected product") }
        let headDim = dim / heads
        // Column norms over tokens, then the per-(head, token) energy e.
        var columnNorm = [Double](repeating: 0, count: dim)
        for t in 0..<n { for c in 0..<dim { columnNorm[c] += Double(w.data[t * dim + c]) * Double(w.data[t * dim + c]) } }
        for c in 0..<dim { columnNorm[c] = max(columnNorm[c].squareRoot(), 1e-12) }
        var pi = [Double](repeating: 0, count: heads * n)
        for t in 0..<n {
            var logits = [Double](repeating: 0, count: heads)
            for h in 0..<heads {
                var energy = 0.0
                for c in (h * headDim)..<((h + 1) * headDim) {
                    let normalised = Double(w.data[t * dim + c]) / columnNorm[c]
                    energy += normalised * normalised
                }
                logits[h] = energy * Double(weights.temp.data[h])
            }
            let top = logits.max() ?? 0
            let exps = logits.map { Foundation.exp($0 - top) }
            let total = exps.reduce(0, +)
            for h in 0..<heads { pi[h * n + t] = exps[h] / total }
        }
        // dots[h, c] = sum_n pin[h, n] w^2, att = 1 / (1 + dots).
        var attention = [Double](repeating: 0, count: dim)
        for h in 0..<heads {
            var mass = 0.0
            for t in 0..<n { mass += pi[h * n + t] }
            let inverse = 1 / (mass + 1e-8)
            for c in (h * headDim)..<((h + 1) * headDim) {
                var dot = 0.0
                for t in 0..<n { dot += pi[h * n + t] * inverse * Double(w.data[t * dim + c]) * Double(w.data[t * dim + c]) }
                attention[c] = 1 / (1 + dot)
            }
        }
        var y = try Tensor(zeros: [n, dim])
        for t in 0..<n {
            for c in 0..<dim {
                y.data[t * dim + c] = Float(-(Double(w.data[t * dim + c]) * pi[(c / headDim) * n + t]) * attention[c])
            }
        }
        guard case let .tensor(projected) = try y.matmul(weights.out) else { throw KernelError.invalidShape("tssa: unexpected product") }
        let out = try projected.binary(.add, weights.bias)
        let flops = 4 * Double(n) * Double(dim) * Double(dim) + 12 * Double(n) * Double(dim)
        return (out, flops)
    }
}
