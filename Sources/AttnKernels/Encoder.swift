import Foundation

// The Transformer encoder behind `encode(x)` and `tost(x)`: pre-norm layers
//   h = x + Mix(LN(x)),   x' = h + GELU(LN(h) W1) W2
// with seeded weights (Gaussian / sqrt(fan-in), biases 0, LayerNorm gain 1 and bias 0), and an
// optional input projection to `dim`. The token mixer is one of the self-attention operators:
// exact multi-head attention (Q, K, V, O projections), TSSA (the ToST block), or Combiner-Fixed
// (single head over the Q, K, V projections, then O).
public struct TransformerEncoder: Sendable {
    public enum Mixer: String, Sendable, CaseIterable { case dense, tssa, combiner }

    public let mixer: Mixer
    public let inputDim: Int
    public let dim: Int
    public let heads: Int
    public let inputProjection: Tensor?
    public let layers: [Layer]

    public struct Layer: Sendable {
        public let wq, wk, wv, wo, w1, w2: Tensor
        public let tssa: TokenStatistics.Weights?
    }

    public init(inputDim: Int, dim: Int, layers: Int, heads: Int, seed: UInt64, mixer: Mixer = .dense) throws {
        guard dim >= 1, inputDim >= 1 else { throw KernelError.invalidArgument("encode needs a dimension of at least 1") }
        guard heads >= 1, dim % heads == 0 else { throw KernelError.invalidArgument("encode: heads=\(heads) must divide dim = \(dim)") }
        guard (0...64).contains(layers) else { throw KernelError.invalidArgument("encode: layers must be 0 to 64, got \(layers)") }
        var rng = Xoshiro256(seed: seed)
        func weight(_ rows: Int, _ cols: Int) throws -> Tensor {
            try Tensor.randn([rows, cols], rng: &rng).scalarOp(.mul, 1 / Float(rows).squareRoot())
        }
        self.mixer = mixer
        self.inputDim = inputDim
        self.dim = dim
        self.heads = heads
        self.inputProjection = inputDim == dim ? nil : try weight(inputDim, dim)
        self.layers = try (0..<layers).map { _ in
            Layer(wq: try weight(dim, dim), wk: try weight(dim, dim), wv: try weight(dim, dim), wo: try weight(dim, dim),
                  w1: try weight(dim, 4 * dim), w2: try weight(4 * dim, dim),
                  tssa: mixer == .tssa ? try .seeded(dim: dim, heads: heads, seed: rng.next()) : nil)
        }
    }

    static func matrix(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard case let .tensor(t) = try a.matmul(b) else { throw KernelError.invalidShape("encode: unexpected vector product") }
        return t
    }

    /// Per-row layer normalisation (epsilon 1e-5), in Double for the statistics.
    static func layerNorm(_ x: Tensor) throws -> Tensor { normalizedRows(x).normalized }

    /// Each row minus its mean, divided by its standard deviation (epsilon 1e-5), with the
    /// inverse deviations (the training layer norm's backward needs them).
    static func normalizedRows(_ x: Tensor) -> (normalized: Tensor, inverseDeviation: [Float]) {
        let (rows, cols) = x.matrixShape
        // Every element is written below; x's shape already passed the memory checks.
        var out = x
        out.data = [Float](unsafeUninitializedCapacity: x.count) { _, initialized in initialized = x.count }
        var inverses = [Float](repeating: 0, count: rows)
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                inverses.withUnsafeMutableBufferPointer { inverseBuffer in
                    let (output, inverseBuffer) = (UncheckedBuffer(output), UncheckedBuffer(inverseBuffer))
                    /// Row r's normalised values and inverse deviation, from its statistics.
                    @inline(__always) func write(_ r: Int, mean: Double, inverse: Double) {
                        let row = input.baseAddress.unsafelyUnwrapped + r * cols, target = output.buffer.baseAddress.unsafelyUnwrapped + r * cols
                        inverseBuffer.buffer[r] = Float(inverse)
                        for c in 0..<cols { target[c] = Float((Double(row[c]) - mean) * inverse) }
                    }
                    Parallel.forEachRowChunk(rows: rows, columns: cols) { range in
                        // Eight rows at a time, one per lane: each lane's sums run in column order
                        // as the one-row loop's do (same bits), but eight chains at once instead of
                        // one latency-bound chain.
                        var r = range.lowerBound
                        while r + 8 <= range.upperBound {
                            typealias D = SIMD8<Double>
                            let base = input.baseAddress.unsafelyUnwrapped + r * cols
                            @inline(__always) func column(_ c: Int) -> D {
                                D(Double(base[c]), Double(base[cols + c]), Double(base[2 * cols + c]), Double(base[3 * cols + c]),
                                  Double(base[4 * cols + c]), Double(base[5 * cols + c]), Double(base[6 * cols + c]), Double(base[7 * cols + c]))
                            }
                            var mean = D(), squares = D()
                            for c in 0..<cols { mean += column(c) }
                            mean /= D(repeating: Double(cols))
                            for c in 0..<cols { let dx = column(c) - mean; squares += dx * dx }
                            let inverse = 1 / (squares / D(repeating: Double(cols)) + 1e-5).squareRoot()
                            for lane in 0..<8 { write(r + lane, mean: mean[lane], inverse: inverse[lane]) }
                            r += 8
                        }
                        for r in r..<range.upperBound {
                            let row = input.baseAddress.unsafelyUnwrapped + r * cols
                            var mean = 0.0, squares = 0.0
                            for c in 0..<cols { mean += Double(row[c]) }
                            mean /= Double(cols)
                            for c in 0..<cols { let dx = Double(row[c]) - mean; squares += dx * dx }
                            write(r, mean: mean, inverse: 1 / (squares / Double(cols) + 1e-5).squareRoot())
                        }
                    }
                }
            }
        }
        return (out, inverses)
    }

    /// tanh approximation of GELU, as PyTorch's approximate="tanh".
    static func gelu(_ x: Tensor) -> Tensor {
        var out = x
        for i in out.data.indices {
            let v = out.data[i]
            out.data[i] = 0.5 * v * (1 + tanhf(0.7978845608 * (v + 0.044715 * v * v * v)))
        }
        return out
    }

    func mix(_ normed: Tensor, _ layer: Layer) throws -> Tensor {
        if mixer == .tssa, let weights = layer.tssa {
            return try TokenStatistics.forward(x: normed, heads: heads, weights: weights).0
        }
        let q = try TransformerEncoder.matrix(normed, layer.wq), k = try TransformerEncoder.matrix(normed, layer.wk)
        let v = try TransformerEncoder.matrix(normed, layer.wv)
        let attended = mixer == .combiner
            ? try CombinerFixed.forward(q: q, k: k, v: v).output
            : try Attention.forward(q: q, k: k, v: v, options: AttentionOptions(heads: heads)).0
        return try TransformerEncoder.matrix(attended, layer.wo)
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 2, input.shape[1] == inputDim else {
            throw KernelError.shapeMismatch("encode needs tokens [N, \(inputDim)]", input.shape, [input.shape.first ?? 0, inputDim])
        }
        var x = try inputProjection.map { try TransformerEncoder.matrix(input, $0) } ?? input
        for layer in layers {
            try Cancellation.check()
            x = try x.binary(.add, try mix(try TransformerEncoder.layerNorm(x), layer))
            let hidden = TransformerEncoder.gelu(try TransformerEncoder.matrix(try TransformerEncoder.layerNorm(x), layer.w1))
            x = try x.binary(.add, try TransformerEncoder.matrix(hidden, layer.w2))
        }
        return x
    }
}
