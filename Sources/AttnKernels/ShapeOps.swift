// Axis permutation, concatenation and basic indexing/slicing (NumPy semantics).
public enum AxisSelector: Equatable, Sendable {
    /// One position (may be negative); removes the axis.
    case index(Int)
    /// start:stop:step, each optional as in Python; keeps the axis.
    case range(start: Int?, stop: Int?, step: Int?)
}

public enum IndexResult: Equatable {
    case scalar(Float)
    case tensor(Tensor)
}

/// Python's slice.indices(): resolves a slice against a length, clamping out-of-range bounds.
public func resolveSlice(start: Int?, stop: Int?, step: Int?, length: Int) throws -> (start: Int, count: Int, step: Int) {
    let step = step ?? 1
    guard step != 0 else { throw KernelError.invalidArgument("slice step cannot be zero") }
    func clamp(_ value: Int?, _ defaultValue: Int) -> Int {
        guard var v = value else { return defaultValue }
        if v < 0 { v += length }
        return step > 0 ? Swift.min(Swift.max(v, 0), length) : Swift.min(Swift.max(v, -1), length - 1)
    }
    let first = clamp(start, step > 0 ? 0 : length - 1)
    let last = clamp(stop, step > 0 ? length : -1)
    // first and last lie in [-1, length], so their difference cannot overflow; the step can be huge.
    let span = step > 0 ? last - first : first - last
    let magnitude = step.magnitude
    let count = span <= 0 ? 0 : Int((UInt(span) + magnitude - 1) / magnitude)
    return (first, count, step)
}

public extension Tensor {
    /// Permutes axes; with nil, reverses them (NumPy's `.T`).
    func transposed(axes: [Int]? = nil) throws -> Tensor {
        let perm = try (axes ?? Array((0..<rank).reversed())).map { try resolveAxis($0) }
        guard perm.count == rank, Set(perm).count == rank else {
            throw KernelError.invalidArgument("transpose axes \(perm) are not a permutation of 0..<\(rank)")
        }
        let outShape = perm.map { shape[$0] }
        var out = try Tensor(zeros: outShape)
        if perm == [1, 0] {
            transposeMatrix(into: &out.data)
            return out
        }
        let inStrides = strides
        let permuted = perm.map { inStrides[$0] }
        let padShape = [Int](repeating: 1, count: 4 - rank) + outShape
        let padStrides = [Int](repeating: 0, count: 4 - rank) + permuted
        var index = 0
        for a in 0..<padShape[0] {
            for b in 0..<padShape[1] {
                for c in 0..<padShape[2] {
                    let base = a * padStrides[0] + b * padStrides[1] + c * padStrides[2]
                    for d in 0..<padShape[3] {
                        out.data[index] = data[base + d * padStrides[3]]
                        index += 1
                    }
                }
            }
        }
        return out
    }

    /// A matrix transposed in 32 x 32 blocks, writing each output row's stretch contiguously, so
    /// that reads and writes both stay in cache (the matmul backward transposes every activation).
    private func transposeMatrix(into out: inout [Float]) {
        out.withUnsafeMutableBufferPointer { y in
            if let target = y.baseAddress { transposeMatrix(into: target, rowLength: shape[0]) }
        }
    }

    /// A matrix's transpose into `target`, whose rows are `rowLength` (>= the matrix's row
    /// count) apart, in 32 x 32 blocks so that neither side is walked with a large stride.
    func transposeMatrix(into target: UnsafeMutablePointer<Float>, rowLength: Int) {
        let (rows, cols) = (shape[0], shape[1]), block = 32
        data.withUnsafeBufferPointer { x in
            for r0 in stride(from: 0, to: rows, by: block) {
                for c0 in stride(from: 0, to: cols, by: block) {
                    for c in c0..<min(cols, c0 + block) {
                        for r in r0..<min(rows, r0 + block) { target[c * rowLength + r] = x[r * cols + c] }
                    }
                }
            }
        }
    }

    static func concat(_ parts: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = parts.first else { throw KernelError.invalidArgument("concat needs at least one tensor") }
        let ax = try first.resolveAxis(axis)
        var outShape = first.shape
        outShape[ax] = 0
        for part in parts {
            var expected = first.shape
            expected[ax] = part.shape.count == first.rank ? part.shape[ax] : -1
            guard part.shape == expected else {
                throw KernelError.shapeMismatch("concat along axis \(ax) needs the other axes equal", first.shape, part.shape)
            }
            outShape[ax] += part.shape[ax]
        }
        var out = try Tensor(uninitialized: outShape)  // every element is copied from a part below
        let outer = outShape[..<ax].reduce(1, *)
        let inner = outShape[(ax + 1)...].reduce(1, *)
        let rowLength = outShape[ax] * inner
        var offsets = [0]
        for part in parts { offsets.append(offsets[offsets.count - 1] + part.shape[ax] * inner) }
        out.data.withUnsafeMutableBufferPointer { buffer in
            guard let target = buffer.baseAddress else { return }
            let destination = UncheckedPointer(target)
            // The parts are copied in parallel, each to its own place.
            Parallel.forEach(chunks: parts.count) { index in
                let block = parts[index].shape[ax] * inner
                parts[index].data.withUnsafeBufferPointer { source in
                    guard let source = source.baseAddress, block > 0 else { return }
                    for o in 0..<outer {
                        (destination.pointer + o * rowLength + offsets[index]).update(from: source + o * block, count: block)
                    }
                }
            }
        }
        return out
    }

    /// `x[sel0, sel1, ...]`; missing trailing selectors mean the whole axis.
    func indexed(_ selectors: [AxisSelector]) throws -> IndexResult {
        guard selectors.count <= rank else {
            throw KernelError.invalidArgument("too many indices (\(selectors.count)) for a tensor of rank \(rank) (shape \(formatShape(shape)))")
        }
        var starts = [Int](), counts = [Int](), steps = [Int](), keep = [Bool]()
        for axis in 0..<rank {
            let selector = axis < selectors.count ? selectors[axis] : .range(start: nil, stop: nil, step: nil)
            switch selector {
            case let .index(i):
                let resolved = i < 0 ? i + shape[axis] : i
                guard resolved >= 0 && resolved < shape[axis] else {
                    throw KernelError.invalidArgument("index \(i) is out of range for axis \(axis) of size \(shape[axis])")
                }
                starts.append(resolved); counts.append(1); steps.append(1); keep.append(false)
            case let .range(start, stop, step):
                let s = try resolveSlice(start: start, stop: stop, step: step, length: shape[axis])
                starts.append(s.start); counts.append(s.count); steps.append(s.step); keep.append(true)
            }
        }
        let outShape = (0..<rank).filter { keep[$0] }.map { counts[$0] }
        let inStrides = strides
        let pad = 4 - rank
        let c = [Int](repeating: 1, count: pad) + counts
        let st = [Int](repeating: 0, count: pad) + (0..<rank).map { inStrides[$0] * steps[$0] }
        let base0 = (0..<rank).reduce(0) { $0 + starts[$1] * inStrides[$1] }
        var values = [Float]()
        values.reserveCapacity(c.reduce(1, *))
        for a in 0..<c[0] {
            for b in 0..<c[1] {
                for d in 0..<c[2] {
                    let base = base0 + a * st[0] + b * st[1] + d * st[2]
                    for e in 0..<c[3] { values.append(data[base + e * st[3]]) }
                }
            }
        }
        if outShape.isEmpty { return .scalar(values[0]) }
        return .tensor(try Tensor(shape: outShape, data: values))
    }
}
