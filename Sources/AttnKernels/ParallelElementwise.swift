// Elementwise add, subtract and multiply over large tensors: fixed chunks of elements run in
// parallel and the result is written once into a fresh buffer (no copy of an operand first).
// Every element's arithmetic is the same whatever the split, so the bits do not depend on the
// thread count. Used by Tensor.binary and by the tape's gradient accumulation.
enum ParallelElementwise {
    static let chunkSize = 1 << 15

    /// out[i] = a[i] op b[i % bCount] for i in 0..<count: b is a full operand (bCount == count)
    /// or a row repeated over rows of bCount elements (a bias). `out` may be `a`.
    static func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, bCount: Int, _ out: UnsafeMutablePointer<Float>,
                        count: Int, op: BinaryOp) {
        guard count > 0, bCount > 0 else { return }
        // A row operand's chunks hold whole rows, so every chunk starts at a row's first element.
        let rowsPerChunk = max(1, chunkSize / bCount)
        let step = bCount == count ? chunkSize : rowsPerChunk * bCount
        let chunks = (count + step - 1) / step
        let output = UncheckedPointer(out)
        Parallel.forEach(chunks: chunks) { chunk in
            let start = chunk * step, end = min(count, start + step)
            let o = output.pointer
            if bCount == count {
                switch op {
                case .add: for i in start..<end { o[i] = a[i] + b[i] }
                case .sub: for i in start..<end { o[i] = a[i] - b[i] }
                default: for i in start..<end { o[i] = a[i] * b[i] }
                }
                return
            }
            for row in stride(from: start, to: end, by: bCount) {
                let (x, y) = (a + row, o + row)
                switch op {
                case .add: for c in 0..<bCount { y[c] = x[c] + b[c] }
                case .sub: for c in 0..<bCount { y[c] = x[c] - b[c] }
                default: for c in 0..<bCount { y[c] = x[c] * b[c] }
                }
            }
        }
    }

    static func handles(_ op: BinaryOp) -> Bool { op == .add || op == .sub || op == .mul }
}

struct UncheckedPointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

extension Tensor {
    /// self op other for add, sub, mul where other has self's shape or is a row of self's last
    /// axis (rank 2), into a fresh tensor.
    func combined(_ op: BinaryOp, _ other: Tensor) -> Tensor {
        let count = self.count, bCount = other.count
        let result = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBufferPointer { a in
                other.data.withUnsafeBufferPointer { b in
                    if let out = buffer.baseAddress, let pa = a.baseAddress, let pb = b.baseAddress {
                        ParallelElementwise.combine(pa, pb, bCount: bCount, out, count: count, op: op)
                    }
                }
            }
            initialized = count
        }
        var out = self
        out.data = result
        return out
    }

    /// self += other for equal shapes, in place (the buffer is copied only if shared).
    mutating func add(_ other: Tensor) throws {
        guard shape == other.shape else { throw KernelError.shapeMismatch("cannot add in place", shape, other.shape) }
        let count = self.count
        data.withUnsafeMutableBufferPointer { a in
            other.data.withUnsafeBufferPointer { b in
                if let pa = a.baseAddress, let pb = b.baseAddress {
                    ParallelElementwise.combine(pa, pb, bCount: count, pa, count: count, op: .add)
                }
            }
        }
    }
}
