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
        var normalized = input, out = input
        var inverseDeviation = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            var mean = 0.0, squares = 0.0
            for c in 0..<cols { mean += Double(input.data[r * cols + c]) }
            mean /= Double(cols)
            for c in 0..<cols { let d = Double(input.data[r * cols + c]) - mean; squares += d * d }
            let inverse = 1 / (squares / Double(cols) + 1e-5).squareRoot()
            inverseDeviation[r] = Float(inverse)
            for c in 0..<cols {
                let n = Float((Double(input.data[r * cols + c]) - mean) * inverse)
                normalized.data[r * cols + c] = n
                out.data[r * cols + c] = n * g.data[c] + b.data[c]
            }
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

    /// GELU, tanh approximation (PyTorch's approximate="tanh").
    public func gelu(_ x: Variable) -> Variable {
        let input = value(x)
        let k: Float = 0.7978845608, c: Float = 0.044715
        var out = input
        for i in out.data.indices {
            let v = input.data[i]
            out.data[i] = 0.5 * v * (1 + tanhf(k * (v + c * v * v * v)))
        }
        return record(out) { up, accumulate in
            var d = up
            for i in d.data.indices {
                let v = input.data[i], t = tanhf(k * (v + c * v * v * v))
                d.data[i] *= 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * c * v * v)
            }
            try accumulate(x, d)
        }
    }
}
