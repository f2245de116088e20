import Foundation

// Layer operations of the trainable modules: layer normalisation with gain and bias, and GELU.
extension Tape {
    /// Per-row layer normalisation of x [rows, cols] (epsilon 1e-5), then * gain + bias ([cols] each).
    public func layerNorm(_ x: Variable, gain: Variable, bias: Variable) throws -> Variable {
        let input = value(x), g = value(gain), b = value(bias)
        let (rows, cols) = input.matrixShape
        guard input.rank == 2, g.shape == [cols], b.shape == [cols] else {
            throw KernelError.shapeMismatch("layernorm needs x [rows, cols] with gain and bias [cols]", input.shape, g.shape)
        }
        let (normalized, inverseDeviation) = TransformerEncoder.normalizedRows(input)
        var out = normalized
        for r in 0..<rows {
            for c in 0..<cols { out.data[r * cols + c] = normalized.data[r * cols + c] * g.data[c] + b.data[c] }
        }
        return record(out) { up, accumulate in
            var dx = up, dGain = try Tensor(zeros: [cols]), dBias = try Tensor(zeros: [cols])
            for r in 0..<rows {
                var meanD = Float(0), meanDN = Float(0)
                for c in 0..<cols {
                    let u = up.data[r * cols + c], n = normalized.data[r * cols + c]
                    dGain.data[c] += u * n
                    dBias.data[c] += u
                    let dn = u * g.data[c]
                    meanD += dn
                    meanDN += dn * n
                }
                meanD /= Float(cols)
                meanDN /= Float(cols)
                for c in 0..<cols {
                    let dn = up.data[r * cols + c] * g.data[c]
                    dx.data[r * cols + c] = inverseDeviation[r] * (dn - meanD - normalized.data[r * cols + c] * meanDN)
                }
            }
            try accumulate(x, dx)
            try accumulate(gain, dGain)
            try accumulate(bias, dBias)
        }
    }

    /// GELU, tanh approximation (PyTorch's approximate="tanh"), 8 lanes at a time.
    public func gelu(_ x: Variable) -> Variable {
        let input = value(x)
        var out = input
        Tape.geluLanes(input.data) { i, v, t, _ in out.data[i] = 0.5 * v * (1 + t) }
        return record(out) { up, accumulate in
            var d = up
            Tape.geluLanes(input.data) { i, v, t, inner in d.data[i] *= 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * inner }
            try accumulate(x, d)
        }
    }

    /// Calls body(i, x_i, tanh(k (x + c x^3)), k (1 + 3 c x^2)) for every element, with tanh from
    /// the vectorised exp: tanh(u) = 1 - 2 / (1 + e^(2u)).
    static func geluLanes(_ data: [Float], _ body: (Int, Float, Float, Float) -> Void) {
        typealias V = SIMD8<Float>
        let k: Float = 0.7978845608, c: Float = 0.044715, twoLog2e: Float = 2 * 1.442695041
        var lanes = V(), i = 0
        while i < data.count {
            let width = min(8, data.count - i)
            for l in 0..<width { lanes[l] = data[i + l] }
            let u = k * (lanes + c * lanes * lanes * lanes)
            let t = 1 - 2 / (1 + FastExp.exp2(u * twoLog2e))
            for l in 0..<width {
                let v = lanes[l]
                body(i + l, v, t[l], k * (1 + 3 * c * v * v))
            }
            i += 8
        }
    }
}
