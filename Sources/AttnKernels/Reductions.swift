import Foundation

// Reductions accumulate in Double, in index order, so results do not depend on threads.
public enum Reduction: String, Sendable {
    case sum, mean, max, min
}

public extension Tensor {
    /// For each row of a matrix [rows, cols], the column of its largest value (the first on ties).
    func rowArgmax() -> [Int] {
        let (rows, cols) = matrixShape
        return (0..<rows).map { r in
            var best = 0
            for c in 1..<max(1, cols) where data[r * cols + c] > data[r * cols + best] { best = c }
            return best
        }
    }

    /// Reduces over all elements.
    func reduceAll(_ kind: Reduction) throws -> Double {
        guard count > 0 || kind == .sum else {
            throw KernelError.invalidArgument("\(kind.rawValue) of an empty tensor")
        }
        switch kind {
        case .sum, .mean:
            var total = 0.0
            for x in data { total += Double(x) }
            return kind == .sum ? total : total / Double(count)
        case .max: return Double(data.max()!)
        case .min: return Double(data.min()!)
        }
    }

    /// Normalises a possibly negative axis.
    func resolveAxis(_ axis: Int) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0 && resolved < rank else {
            throw KernelError.invalidArgument("axis \(axis) is out of range for a tensor of rank \(rank) (shape \(formatShape(shape)))")
        }
        return resolved
    }

    /// Reduces along one axis; the axis is removed (nil result means the output is a scalar).
    func reduce(_ kind: Reduction, axis: Int) throws -> Tensor? {
        let ax = try resolveAxis(axis)
        let n = shape[ax]
        guard n > 0 || kind == .sum else {
            throw KernelError.invalidArgument("\(kind.rawValue) over an empty axis")
        }
        let outer = shape[..<ax].reduce(1, *)
        let inner = shape[(ax + 1)...].reduce(1, *)
        var outShape = shape
        outShape.remove(at: ax)
        if outShape.isEmpty { return nil }
        var out = try Tensor(zeros: outShape)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var acc: Double
                switch kind {
                case .sum, .mean:
                    acc = 0
                    for j in 0..<n { acc += Double(data[base + j * inner]) }
                    if kind == .mean { acc /= Double(n) }
                case .max:
                    acc = -Double.infinity
                    for j in 0..<n { acc = Swift.max(acc, Double(data[base + j * inner])) }
                case .min:
                    acc = Double.infinity
                    for j in 0..<n { acc = Swift.min(acc, Double(data[base + j * inner])) }
                }
                out.data[o * inner + i] = Float(acc)
            }
        }
        return out
    }

    /// The sum of each column of a matrix (a bias's gradient), in Double like reduce(.sum,
    /// axis: 0), walking the rows contiguously.
    func columnSums() throws -> Tensor {
        guard rank == 2 else { throw KernelError.invalidShape("column sums need a matrix, got \(formatShape(shape))") }
        let (rows, cols) = (shape[0], shape[1])
        // Fixed blocks of rows summed in parallel (Double), then the blocks in order: the split
        // depends on the shape only, so the bits do not depend on the thread count.
        let blockRows = 256, blocks = max(1, (rows + blockRows - 1) / blockRows)
        var partials = [Double](repeating: 0, count: blocks * cols)
        data.withUnsafeBufferPointer { x in
            partials.withUnsafeMutableBufferPointer { buffer in
                let partial = UncheckedBuffer(buffer)
                Parallel.forEach(chunks: blocks) { block in
                    let total = partial.buffer.baseAddress.unsafelyUnwrapped + block * cols
                    let rowRange = (block * blockRows)..<min(rows, (block + 1) * blockRows)
                    // Eight columns per vector, each lane summing its column in row order.
                    var c = 0
                    while c + 8 <= cols {
                        var sums = SIMD8<Double>()
                        for r in rowRange {
                            let p = x.baseAddress.unsafelyUnwrapped + r * cols + c
                            sums += SIMD8<Double>(Double(p[0]), Double(p[1]), Double(p[2]), Double(p[3]),
                                                  Double(p[4]), Double(p[5]), Double(p[6]), Double(p[7]))
                        }
                        for lane in 0..<8 { total[c + lane] = sums[lane] }
                        c += 8
                    }
                    for c in c..<cols {
                        for r in rowRange { total[c] += Double(x[r * cols + c]) }
                    }
                }
            }
        }
        var sums = [Float](repeating: 0, count: cols)
        for c in 0..<cols {
            var total = 0.0
            for block in 0..<blocks { total += partials[block * cols + c] }
            sums[c] = Float(total)
        }
        return try Tensor(shape: [cols], data: sums)
    }

    /// Numerically stable softmax along `axis`.
    func softmax(axis: Int = -1) throws -> Tensor {
        let ax = try resolveAxis(axis)
        let n = shape[ax]
        let outer = shape[..<ax].reduce(1, *)
        let inner = shape[(ax + 1)...].reduce(1, *)
        var out = self
        out.data.withUnsafeMutableBufferPointer { o in
            for a in 0..<outer {
                for i in 0..<inner {
                    let base = a * n * inner + i
                    var m = -Float.infinity
                    for j in 0..<n { m = Swift.max(m, o[base + j * inner]) }
                    var total: Float = 0
                    for j in 0..<n {
                        let e = expf(o[base + j * inner] - m)
                        o[base + j * inner] = e
                        total += e
                    }
                    for j in 0..<n { o[base + j * inner] /= total }
                }
            }
        }
        return out
    }

    /// ||self - reference|| / ||reference|| (Frobenius), in Double.
    func relativeError(to reference: Tensor) throws -> Double {
        guard shape == reference.shape else {
            throw KernelError.shapeMismatch("relerr needs equal shapes", shape, reference.shape)
        }
        var diff = 0.0, norm = 0.0
        for i in 0..<count {
            let d = Double(data[i]) - Double(reference.data[i])
            diff += d * d
            norm += Double(reference.data[i]) * Double(reference.data[i])
        }
        if norm == 0 { return diff == 0 ? 0 : .infinity }
        return (diff / norm).squareRoot()
    }

    /// max |self - reference|.
    func maxError(to reference: Tensor) throws -> Double {
        guard shape == reference.shape else {
            throw KernelError.shapeMismatch("maxerr needs equal shapes", shape, reference.shape)
        }
        var worst = 0.0
        for i in 0..<count { worst = Swift.max(worst, Swift.abs(Double(data[i]) - Double(reference.data[i]))) }
        return worst
    }
}
