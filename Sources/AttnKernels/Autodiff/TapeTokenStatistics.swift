import Foundation

// The core of Token Statistics Self-Attention (tssa.md) as a differentiable operation, for each
// sequence of a stacked batch: from w = x W [n, D] and the per-head temperatures,
//   s_c = ||w_:c|| (over tokens, floor 1e-12), wn = w / s, e_hn = sum_{c in h} wn_nc^2,
//   Pi = softmax over heads of e * temp, S_h = sum_n Pi_hn + 1e-8, pin = Pi / S,
//   dots_c = sum_n pin_hn w_nc^2, att_c = 1 / (1 + dots_c), y_nc = -w_nc Pi_hn att_c.
// The output projection (y Wo + b) is an ordinary linear layer on the tape. The backward
// follows the same chain in reverse (derivation in the comments), in Double like the forward.
extension Tape {
    public func tokenStatistics(_ w: Variable, temperature: Variable, heads: Int, blocks: Int) throws -> Variable {
        let x = value(w), temp = value(temperature)
        guard x.rank == 2, heads >= 1, x.shape[1] % heads == 0, blocks >= 1, x.shape[0] % blocks == 0, temp.shape == [heads] else {
            throw KernelError.shapeMismatch("tssa needs w [blocks * n, D] with heads dividing D and temp [heads]", x.shape, temp.shape)
        }
        let (rows, dim) = (x.shape[0], x.shape[1]), n = rows / blocks, hd = dim / heads
        // Saved per block for the backward: column norms, Pi, S and att.
        var norms = [Double](repeating: 0, count: blocks * dim), pi = [Double](repeating: 0, count: blocks * heads * n)
        var mass = [Double](repeating: 0, count: blocks * heads), att = [Double](repeating: 0, count: blocks * dim)
        var energy = [Double](repeating: 0, count: blocks * heads * n)
        var out = try Tensor(zeros: x.shape)
        func at(_ b: Int, _ t: Int, _ c: Int) -> Double { Double(x.data[(b * n + t) * dim + c]) }
        for b in 0..<blocks {
            for c in 0..<dim {
                var sum = 0.0
                for t in 0..<n { sum += at(b, t, c) * at(b, t, c) }
                norms[b * dim + c] = max(sum.squareRoot(), 1e-12)
            }
            for t in 0..<n {
                var logits = [Double](repeating: 0, count: heads)
                for h in 0..<heads {
                    var e = 0.0
                    for c in (h * hd)..<((h + 1) * hd) { let v = at(b, t, c) / norms[b * dim + c]; e += v * v }
                    energy[(b * heads + h) * n + t] = e
                    logits[h] = e * Double(temp.data[h])
                }
                let top = logits.max() ?? 0
                let exps = logits.map { Foundation.exp($0 - top) }
                let total = exps.reduce(0, +)
                for h in 0..<heads { pi[(b * heads + h) * n + t] = exps[h] / total }
            }
            for h in 0..<heads {
                var s = 1e-8
                for t in 0..<n { s += pi[(b * heads + h) * n + t] }
                mass[b * heads + h] = s
                for c in (h * hd)..<((h + 1) * hd) {
                    var dots = 0.0
                    for t in 0..<n { dots += pi[(b * heads + h) * n + t] / s * at(b, t, c) * at(b, t, c) }
                    att[b * dim + c] = 1 / (1 + dots)
                    for t in 0..<n { out.data[(b * n + t) * dim + c] = Float(-at(b, t, c) * pi[(b * heads + h) * n + t] * att[b * dim + c]) }
                }
            }
        }
        return record(out) { up, accumulate in
            var dw = try Tensor(zeros: x.shape), dTemp = try Tensor(zeros: [heads])
            func g(_ b: Int, _ t: Int, _ c: Int) -> Double { Double(up.data[(b * n + t) * dim + c]) }
            for b in 0..<blocks {
                var dw64 = [Double](repeating: 0, count: n * dim)
                var dPi = [Double](repeating: 0, count: heads * n), dEnergy = [Double](repeating: 0, count: heads * n)
                for h in 0..<heads {
                    let s = mass[b * heads + h]
                    var dPin = [Double](repeating: 0, count: n)
                    for c in (h * hd)..<((h + 1) * hd) {
                        let a = att[b * dim + c]
                        // y = -w Pi att: direct terms, and d att through dots.
                        var dAtt = 0.0
                        for t in 0..<n {
                            let p = pi[(b * heads + h) * n + t], w = at(b, t, c), up = g(b, t, c)
                            dw64[t * dim + c] -= up * p * a
                            dPi[h * n + t] -= up * w * a
                            dAtt -= up * w * p
                        }
                        let dDots = -dAtt * a * a
                        for t in 0..<n {
                            let w = at(b, t, c)
                            dPin[t] += dDots * w * w
                            dw64[t * dim + c] += dDots * pi[(b * heads + h) * n + t] / s * 2 * w
                        }
                    }
                    // pin = Pi / S with S = sum Pi: dPi += dPin / S - sum_t(dPin Pi) / S^2.
                    var weighted = 0.0
                    for t in 0..<n { weighted += dPin[t] * pi[(b * heads + h) * n + t] }
                    for t in 0..<n { dPi[h * n + t] += dPin[t] / s - weighted / (s * s) }
                }
                for t in 0..<n {
                    // Softmax over heads: dz = Pi (dPi - sum_h Pi dPi).
                    var dot = 0.0
                    for h in 0..<heads { dot += pi[(b * heads + h) * n + t] * dPi[h * n + t] }
                    for h in 0..<heads {
                        let dz = pi[(b * heads + h) * n + t] * (dPi[h * n + t] - dot)
                        dTemp.data[h] += Float(dz * energy[(b * heads + h) * n + t])
                        dEnergy[h * n + t] = dz * Double(temp.data[h])
                        for c in (h * hd)..<((h + 1) * hd) {
                            // e = sum wn^2 with wn = w / s_c: d wn = 2 wn dE.
                            let norm = norms[b * dim + c]
                            dw64[t * dim + c] += 2 * at(b, t, c) / norm * dEnergy[h * n + t] / norm
                        }
                    }
                }
                // The column norm: d s_c = -sum_t d wn_tc w_tc / s_c^2, and d w += d s_c w / s_c.
                for c in 0..<dim where norms[b * dim + c] > 1e-12 {
                    let norm = norms[b * dim + c], h = c / hd
                    var dNorm = 0.0
                    for t in 0..<n { dNorm -= 2 * at(b, t, c) / norm * dEnergy[h * n + t] * at(b, t, c) / (norm * norm) }
                    for t in 0..<n { dw64[t * dim + c] += dNorm * at(b, t, c) / norm }
                }
                for i in 0..<(n * dim) { dw.data[b * n * dim + i] = Float(dw64[i]) }
            }
            try accumulate(w, dw)
            try accumulate(temperature, dTemp)
        }
    }
}
