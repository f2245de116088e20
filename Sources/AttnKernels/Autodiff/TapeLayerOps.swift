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
        var out = try Tensor(uninitialized: input.shape)
        out.data.withUnsafeMutableBufferPointer { buffer in
            let output = UncheckedBuffer(buffer)
            Parallel.forEachRowChunk(rows: rows, columns: cols) { range in
                for r in range {
                    for c in 0..<cols { output.buffer[r * cols + c] = normalized.data[r * cols + c] * g.data[c] + b.data[c] }
                }
            }
        }
        return record(out) { up, accumulate in
            var dx = try Tensor(uninitialized: up.shape), dGain = try Tensor(zeros: [cols]), dBias = try Tensor(zeros: [cols])
            // The gain's and bias's gradients sum over rows in row order; dx is per row.
            up.data.withUnsafeBufferPointer { upstream in
                normalized.data.withUnsafeBufferPointer { n in
                    dGain.data.withUnsafeMutableBufferPointer { gainSum in
                        dBias.data.withUnsafeMutableBufferPointer { biasSum in
                            // Sixteen columns per vector, each lane summing its column in row order;
                            // the groups of 16 columns in parallel.
                            typealias V = SIMD16<Float>
                            let (gainTotals, biasTotals) = (UncheckedBuffer(gainSum), UncheckedBuffer(biasSum))
                            Parallel.forEach(chunks: cols / 16) { group in
                                let c = group * 16
                                var gains = V(), biases = V()
                                for r in 0..<rows {
                                    let u = UnsafeRawPointer(upstream.baseAddress.unsafelyUnwrapped + r * cols + c).loadUnaligned(as: V.self)
                                    let normal = UnsafeRawPointer(n.baseAddress.unsafelyUnwrapped + r * cols + c).loadUnaligned(as: V.self)
                                    gains += u * normal
                                    biases += u
                                }
                                for lane in 0..<16 { (gainTotals.buffer[c + lane], biasTotals.buffer[c + lane]) = (gains[lane], biases[lane]) }
                            }
                            for r in 0..<rows {
                                for c in (cols / 16 * 16)..<cols {
                                    let u = upstream[r * cols + c]
                                    gainSum[c] += u * n[r * cols + c]
                                    biasSum[c] += u
                                }
                            }
                        }
                    }
                }
            }
            dx.data.withUnsafeMutableBufferPointer { buffer in
                let dxBuffer = UncheckedBuffer(buffer)
                Parallel.forEachRowChunk(rows: rows, columns: cols) { range in
                    for r in range {
                        var meanD = Float(0), meanDN = Float(0)
                        for c in 0..<cols {
                            let dn = up.data[r * cols + c] * g.data[c]
                            meanD += dn
                            meanDN += dn * normalized.data[r * cols + c]
                        }
                        meanD /= Float(cols)
                        meanDN /= Float(cols)
                        for c in 0..<cols {
                            let dn = up.data[r * cols + c] * g.data[c]
                            dxBuffer.buffer[r * cols + c] = inverseDeviation[r] * (dn - meanD - normalized.data[r * cols + c] * meanDN)
                        }
                    }
                }
            }
            try accumulate(x, dx)
            try accumulate(gain, dGain)
            try accumulate(bias, dBias)
        }
    }

    /// GELU, tanh approximation (PyTorch's approximate="tanh"), 16 lanes at a time.
    public func gelu(_ x: Variable) -> Variable {
        let input = value(x)
        var out = input
        out.data = Tape.geluLanes(input.data, upstream: nil)
        return record(out) { up, accumulate in
            var d = up
            d.data = Tape.geluLanes(input.data, upstream: up.data)
            try accumulate(x, d)
        }
    }

    /// GELU(x_i) for every element, or with an upstream gradient upstream[i] * GELU'(x_i), into a
    /// fresh buffer, 16 lanes at a time, with t = tanh(k (x + c x^3)) from the vectorised exp:
    /// tanh(u) = 1 - 2 / (1 + e^(2u)). Fixed chunks run in parallel; each element's arithmetic is
    /// the same for any thread count.
    static func geluLanes(_ data: [Float], upstream gradient: [Float]?) -> [Float] {
        typealias V = SIMD16<Float>
        let k: Float = 0.7978845608, c: Float = 0.044715, twoLog2e: Float = 2 * 1.442695041
        let chunkSize = 1 << 14, count = data.count
        let chunks = (count + chunkSize - 1) / chunkSize
        let derivative = gradient != nil, upstreamData = gradient ?? []
        return [Float](unsafeUninitializedCapacity: count) { output, initialized in
            initialized = count
            data.withUnsafeBufferPointer { input in
            upstreamData.withUnsafeBufferPointer { upstreamBuffer in
                guard let source = input.baseAddress, let target = output.baseAddress else { return }
                let output = UncheckedBuffer(output)
                Parallel.forEach(chunks: chunks) { chunk in
                    var i = chunk * chunkSize
                    let end = min(count, i + chunkSize)
                    while i < end {
                        let width = min(16, end - i)
                        var lanes = V(), upstream = V()
                        if width == 16 {
                            lanes = UnsafeRawPointer(source + i).loadUnaligned(as: V.self)
                            if derivative { upstream = UnsafeRawPointer(upstreamBuffer.baseAddress.unsafelyUnwrapped + i).loadUnaligned(as: V.self) }
                        } else {
                            for l in 0..<width { (lanes[l], upstream[l]) = (input[i + l], derivative ? upstreamBuffer[i + l] : 0) }
                        }
                        let u = k * (lanes + c * lanes * lanes * lanes)
                        let t = 1 - 2 / (1 + FastExp.exp2(u * twoLog2e))
                        let result: V
                        if derivative {
                            let inner: V = k * (1 + 3 * c * lanes * lanes)
                            let slope: V = 0.5 * lanes * (1 - t * t) * inner
                            result = upstream * (0.5 * (1 + t) + slope)
                        } else {
                            result = 0.5 * lanes * (1 + t)
                        }
                        if width == 16 {
                            UnsafeMutableRawPointer(target + i).storeBytes(of: result, as: V.self)
                        } else {
                            for l in 0..<width { output.buffer[i + l] = result[l] }
                        }
                        i += 16
                    }
                }
            }
            }
        }
    }
}
