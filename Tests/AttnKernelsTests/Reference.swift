import AttnKernels

// Plain, obviously-correct references in Double, written independently of the kernels.

/// A seeded standard-normal tensor, for test inputs.
func random(_ shape: [Int], seed: UInt64) throws -> Tensor {
    var rng = Xoshiro256(seed: seed)
    return try Tensor.randn(shape, rng: &rng)
}

enum Reference {
    static func attention(q: Tensor, k: Tensor, v: Tensor, causal: Bool, heads: Int, scale: Double? = nil) -> [Double] {
        let m = q.shape[0], n = k.shape[0], d = q.shape[1], dv = v.shape[1]
        let hd = d / heads, hdv = dv / heads
        let s = scale ?? 1 / Double(hd).squareRoot()
        var out = [Double](repeating: 0, count: m * dv)
        for h in 0..<heads {
            for i in 0..<m {
                let visible = causal ? i + 1 : n
                var logits = [Double](repeating: 0, count: visible)
                for j in 0..<visible {
                    var dot = 0.0
                    for c in 0..<hd { dot += Double(q.data[i * d + h * hd + c]) * Double(k.data[j * d + h * hd + c]) }
                    logits[j] = dot * s
                }
                let top = logits.max() ?? 0
                let weights = logits.map { Foundation.exp($0 - top) }
                let total = weights.reduce(0, +)
                for j in 0..<visible {
                    for c in 0..<hdv { out[i * dv + h * hdv + c] += weights[j] / total * Double(v.data[j * dv + h * hdv + c]) }
                }
            }
        }
        return out
    }

    static func matmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += Double(a[i * k + p]) * Double(b[p * n + j]) } } }
        return c
    }

    static func relativeError(_ actual: [Float], _ expected: [Double]) -> Double {
        var diff = 0.0, norm = 0.0
        for (a, e) in zip(actual, expected) {
            diff += (Double(a) - e) * (Double(a) - e)
            norm += e * e
        }
        return norm == 0 ? diff.squareRoot() : (diff / norm).squareRoot()
    }
}

import Foundation
