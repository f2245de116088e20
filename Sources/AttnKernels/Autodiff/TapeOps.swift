import Foundation

// The differentiable operations: each computes its value with the ordinary kernels and records
// the rule that maps the upstream gradient to its inputs' gradients.
extension Tape {
    /// a + b, where b has a's shape or is a row vector [cols] added to every row (a bias).
    public func add(_ a: Variable, _ b: Variable) throws -> Variable {
        let x = value(a), y = value(b)
        let isBias = x.shape != y.shape
        if isBias {
            guard x.rank == 2, y.rank == 1, y.shape[0] == x.shape[1] else {
                throw KernelError.shapeMismatch("add needs equal shapes or a [cols] bias for a [rows, cols] matrix", x.shape, y.shape)
            }
        }
        return record(try x.binary(.add, y)) { g, accumulate in
            try accumulate(a, g)
            try accumulate(b, isBias ? try g.columnSums() : g)
        }
    }

    /// a * b elementwise (equal shapes).
    public func multiply(_ a: Variable, _ b: Variable) throws -> Variable {
        let x = value(a), y = value(b)
        guard x.shape == y.shape else { throw KernelError.shapeMismatch("multiply needs equal shapes", x.shape, y.shape) }
        return record(try x.binary(.mul, y)) { g, accumulate in
            try accumulate(a, try g.binary(.mul, y))
            try accumulate(b, try g.binary(.mul, x))
        }
    }

    public func scale(_ a: Variable, by factor: Float) -> Variable {
        record(value(a).scalarOp(.mul, factor)) { g, accumulate in try accumulate(a, g.scalarOp(.mul, factor)) }
    }

    /// a @ b for matrices [m, k] and [k, n].
    public func matmul(_ a: Variable, _ b: Variable) throws -> Variable {
        let x = value(a), y = value(b)
        guard x.rank == 2, y.rank == 2 else { throw KernelError.invalidShape("tape matmul takes matrices, got \(formatShape(x.shape)) and \(formatShape(y.shape))") }
        return record(try Tape.product(x, y)) { g, accumulate in
            let (dx, dy) = try Tape.productGradients(g, x, y)
            try accumulate(a, dx)
            try accumulate(b, dy)
        }
    }

    /// The gradients of x @ y for the upstream g: g y^T and x^T g.
    static func productGradients(_ g: Tensor, _ x: Tensor, _ y: Tensor) throws -> (Tensor, Tensor) {
        (try Tape.product(g, try y.transposed()), try x.transposedMatmul(g))
    }

    /// x @ weight + bias for x [rows, in], weight [in, out], bias [out] (a linear layer): the
    /// product accumulates onto rows that start as the bias, so the bias costs no pass of its
    /// own. (bias + p rounds as p + bias; with more than 256 inputs the product's depth slices
    /// are added onto the bias one by one, so the last bits can differ from matmul then add.)
    public func affine(_ x: Variable, _ weight: Variable, _ bias: Variable) throws -> Variable {
        let input = value(x), w = value(weight), b = value(bias)
        guard input.rank == 2, w.rank == 2, b.rank == 1, input.shape[1] == w.shape[0], b.shape[0] == w.shape[1] else {
            throw KernelError.shapeMismatch("affine needs x [rows, in], weight [in, out] and bias [out]", input.shape, w.shape)
        }
        let (rows, inputs, outputs) = (input.shape[0], w.shape[0], w.shape[1])
        var out = try Tensor(uninitialized: [rows, outputs])
        out.data.withUnsafeMutableBufferPointer { o in
            input.data.withUnsafeBufferPointer { a in
                w.data.withUnsafeBufferPointer { weights in
                    b.data.withUnsafeBufferPointer { row in
                        guard let c = o.baseAddress, let bias = row.baseAddress else { return }
                        let start = UncheckedPointer(c)
                        Parallel.forEachRowChunk(rows: rows, columns: outputs) { range in
                            for r in range { (start.pointer + r * outputs).copyShortRow(from: bias, count: outputs) }
                        }
                        guard let pa = a.baseAddress, let pw = weights.baseAddress else { return }
                        Gemm.multiply(pa, lda: inputs, pw, c, m: rows, n: outputs, k: inputs, accumulate: true)
                    }
                }
            }
        }
        return record(out) { g, accumulate in
            let (dx, dWeight) = try Tape.productGradients(g, input, w)
            try accumulate(x, dx)
            try accumulate(weight, dWeight)
            try accumulate(bias, try g.columnSums())
        }
    }

    static func product(_ x: Tensor, _ y: Tensor) throws -> Tensor {
        guard case let .tensor(t) = try x.matmul(y) else { throw KernelError.invalidShape("expected a matrix product") }
        return t
    }

    public func tanh(_ a: Variable) -> Variable {
        let y = value(a).map(.tanh)
        return record(y) { g, accumulate in
            var d = g
            d.data.withUnsafeMutableBufferPointer { buffer in
                for i in buffer.indices { buffer[i] *= 1 - y.data[i] * y.data[i] }
            }
            try accumulate(a, d)
        }
    }

    public func relu(_ a: Variable) -> Variable {
        let x = value(a)
        return record(x.map(.relu)) { g, accumulate in
            var d = g
            d.data.withUnsafeMutableBufferPointer { buffer in
                for i in buffer.indices where x.data[i] <= 0 { buffer[i] = 0 }
            }
            try accumulate(a, d)
        }
    }

    /// a ** p elementwise for a constant exponent p.
    public func power(_ a: Variable, _ p: Float) -> Variable {
        let x = value(a)
        return record(x.scalarOp(.pow, p)) { g, accumulate in
            var d = g
            d.data.withUnsafeMutableBufferPointer { buffer in
                for i in buffer.indices { buffer[i] *= p * powf(x.data[i], p - 1) }
            }
            try accumulate(a, d)
        }
    }

    public func exp(_ a: Variable) -> Variable {
        let y = value(a).map(.exp)
        return record(y) { g, accumulate in try accumulate(a, try g.binary(.mul, y)) }
    }

    /// The sum of all elements, as a [1] tensor.
    public func sum(_ a: Variable) throws -> Variable {
        let x = value(a)
        return record(try Tensor(shape: [1], data: [Float(try x.reduceAll(.sum))])) { g, accumulate in
            try accumulate(a, try Tensor(shape: x.shape, repeating: g.data[0]))
        }
    }

    public func mean(_ a: Variable) throws -> Variable {
        let n = value(a).count
        guard n > 0 else { throw KernelError.invalidArgument("mean of an empty tensor") }
        return scale(try sum(a), by: 1 / Float(n))
    }

    /// Softmax over the last axis: d a = y * (g - sum(g * y)) row by row.
    public func softmax(_ a: Variable) throws -> Variable {
        let y = try value(a).softmax(axis: -1)
        let width = y.shape.last ?? 1
        return record(y) { g, accumulate in
            var d = g
            d.data.withUnsafeMutableBufferPointer { buffer in
                for start in stride(from: 0, to: buffer.count, by: max(1, width)) {
                    var dot: Float = 0
                    for c in 0..<width { dot += buffer[start + c] * y.data[start + c] }
                    for c in 0..<width { buffer[start + c] = y.data[start + c] * (buffer[start + c] - dot) }
                }
            }
            try accumulate(a, d)
        }
    }

    /// Mean squared error between a and a constant target of the same shape.
    public func meanSquaredError(_ a: Variable, target: Tensor) throws -> Variable {
        let x = value(a)
        guard x.shape == target.shape else { throw KernelError.shapeMismatch("mse needs equal shapes", x.shape, target.shape) }
        let difference = try x.binary(.sub, target)
        let n = Float(max(1, x.count))
        let loss = try difference.binary(.mul, difference).reduceAll(.sum) / Double(n)
        return record(try Tensor(shape: [1], data: [Float(loss)])) { g, accumulate in
            try accumulate(a, difference.scalarOp(.mul, 2 * g.data[0] / n))
        }
    }

    /// Exact attention; its backward recomputes the scores tile by tile (Attention.backward).
    public func attention(_ q: Variable, _ k: Variable, _ v: Variable, options: AttentionOptions = .init()) throws -> Variable {
        let (xq, xk, xv) = (value(q), value(k), value(v))
        let (out, logSumExp) = try Attention.forwardKeepingLogSumExp(q: xq, k: xk, v: xv, options: options)
        return record(out) { g, accumulate in
            let grads = try Attention.backward(q: xq, k: xk, v: xv, out: out, gradOut: g, options: options, logSumExp: logSumExp)
            try accumulate(q, grads.q)
            try accumulate(k, grads.k)
            try accumulate(v, grads.v)
        }
    }
}
