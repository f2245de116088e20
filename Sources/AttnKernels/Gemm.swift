// C[M, N] = A[M, K] * B[K, N], row-major, on the micro-kernel (MicroKernel.swift).
// Blocking (GotoBLAS/BLIS): K is cut into slices of depthBlock; each slice of B is packed into
// 32-column panels (contiguous rows of 32 floats, zero-padded at the right edge), and every 8-row
// strip of A (packed too, its rows interleaved per k step) meets every panel. Large products
// share each packed slice of B among all threads (GemmSharedPanels.swift); products with a narrow
// B are cut into fixed blocks of rowBlock x columnBlock, one chunk of parallel work each. Either
// way the work is a fixed list of chunks, so the result does not depend on the thread count.
// A product whose C is a single block (a weight gradient x^T dy: small C, deep K) runs its depth
// slices in parallel instead, each into its own partial, and adds the partials in slice order:
// the same additions the one-block loop does, so the same bits.
public enum Gemm {
    /// Rows per chunk: a whole number of tiles (so only a matrix's last strip is partial).
    static func rowBlock(_ shape: TileShape) -> Int { shape.rows * 20 }
    static let columnBlock = 512
    static let depthBlock = 256
    /// Products with at most this many columns read A and B in place instead of packing them.
    static let inPlaceMaxColumns = 128
    /// The most floats the depth-split partials may take (beyond, the one block runs serially).
    static let maxPartialFloats = 1 << 22

    public static func multiply(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, shape: TileShape = .host
    ) {
        multiply(a, lda: k, b, c, m: m, n: n, k: k, accumulate: false, shape: shape)
    }

    /// C (+)= op(A) B. A's rows are `lda` apart (a block of a wider matrix); with `aTransposed`,
    /// A is stored as its transpose, [K, M] with rows `lda` apart, so x^T y needs no copy of x^T.
    /// With `accumulate` the product is added to C in place.
    public static func multiply(
        _ a: UnsafePointer<Float>, lda: Int, aTransposed: Bool = false, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, accumulate: Bool, shape: TileShape = .host
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { c.update(repeating: 0, count: m * n) }
            return
        }
        let operands = Operands(a: a, lda: lda, aTransposed: aTransposed, b: b, m: m, n: n, shape: shape)
        let rowBlock = Gemm.rowBlock(shape)
        let rowChunks = (m + rowBlock - 1) / rowBlock
        let columnChunks = (n + columnBlock - 1) / columnBlock
        let slices = (k + depthBlock - 1) / depthBlock
        if rowChunks * columnChunks == 1 && slices > 1 && slices * m * n <= maxPartialFloats {
            multiplySplittingDepth(operands, c, k: k, slices: slices, accumulate: accumulate)
            return
        }
        if rowChunks * columnChunks > 1 && n > inPlaceMaxColumns {
            multiplySharingPanels(operands, c, k: k, accumulate: accumulate)
            return
        }
        Parallel.forEach(chunks: rowChunks * columnChunks) { chunk in
            let rowStart = (chunk / columnChunks) * rowBlock, columnStart = (chunk % columnChunks) * columnBlock
            operands.block(rows: rowStart..<min(m, rowStart + rowBlock), columns: columnStart..<min(n, columnStart + columnBlock),
                           depth: 0..<k, c: c, accumulate: accumulate)
        }
    }

    /// The one block of C, its depth slices in parallel; partial s holds slice s's product.
    private static func multiplySplittingDepth(_ operands: Operands, _ c: UnsafeMutablePointer<Float>, k: Int, slices: Int, accumulate: Bool) {
        let size = operands.m * operands.n
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: slices * size)
        defer { partials.deallocate() }
        Parallel.forEach(chunks: slices) { slice in
            let start = slice * depthBlock
            operands.block(rows: 0..<operands.m, columns: 0..<operands.n, depth: start..<min(k, start + depthBlock),
                           c: partials + slice * size, accumulate: false)
        }
        if !accumulate { c.update(from: partials, count: size) }
        for slice in (accumulate ? 0 : 1)..<slices {
            let partial = partials + slice * size
            for i in 0..<size { c[i] += partial[i] }
        }
    }

    /// Copies `depth` rows of B (`columns` wide) into panels `width` wide, zero-padding the last.
    static func packPanels(_ b: UnsafePointer<Float>, ldb: Int, depth: Int, columns: Int, width: Int, into packed: UnsafeMutablePointer<Float>) {
        let panels = (columns + width - 1) / width
        for panel in 0..<panels {
            let first = panel * width
            let valid = min(width, columns - first)
            let destination = packed + panel * depth * width
            for p in 0..<depth {
                let row = destination + p * width
                row.update(from: b + p * ldb + first, count: valid)
                if valid < width { (row + valid).update(repeating: 0, count: width - valid) }
            }
        }
    }

    /// The plain triple loop: the reference the tests compare the blocked kernel against, and
    /// documentation of what `multiply` computes.
    public static func reference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }
                c[i * n + j] = sum
            }
        }
    }
}

public enum MatmulResult: Equatable {
    case scalar(Float)
    case tensor(Tensor)
}

public extension Tensor {
    /// self^T @ other for matrices self [k, m] and other [k, n], without materialising self^T
    /// (a weight's gradient x^T dy in the tape's backward).
    func transposedMatmul(_ other: Tensor) throws -> Tensor {
        guard rank == 2, other.rank == 2, shape[0] == other.shape[0] else {
            throw KernelError.shapeMismatch("x^T y needs matrices with the same number of rows", shape, other.shape)
        }
        let (k, m, n) = (shape[0], shape[1], other.shape[1])
        guard m > 0, n > 0, k > 0 else { return try Tensor(zeros: [m, n]) }
        var out = try Tensor(uninitialized: [m, n])  // the product writes every element
        data.withUnsafeBufferPointer { pa in
            other.data.withUnsafeBufferPointer { pb in
                out.data.withUnsafeMutableBufferPointer { pc in
                    Gemm.multiply(pa.baseAddress.unsafelyUnwrapped, lda: m, aTransposed: true, pb.baseAddress.unsafelyUnwrapped,
                                  pc.baseAddress.unsafelyUnwrapped, m: m, n: n, k: k, accumulate: false)
                }
            }
        }
        return out
    }

    /// NumPy's `@`: vector.vector is a dot product; a vector operand gains and loses an axis;
    /// leading (batch) axes must be equal, or the right operand is a plain matrix.
    func matmul(_ other: Tensor) throws -> MatmulResult {
        let a = rank == 1 ? try reshaped([1, shape[0]]) : self
        let b = other.rank == 1 ? try other.reshaped([other.shape[0], 1]) : other
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1]
        guard k == k2 else {
            throw KernelError.shapeMismatch("`@` needs the inner dimensions equal, \(k) vs \(k2)", shape, other.shape)
        }
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        guard batchB.isEmpty || batchA == batchB else {
            throw KernelError.shapeMismatch("`@` needs equal batch axes", shape, other.shape)
        }
        let batch = batchA.reduce(1, *)
        // The product writes every element unless k = 0.
        var out = k > 0 ? try Tensor(uninitialized: batchA + [m, n]) : try Tensor(zeros: batchA + [m, n])
        if out.count > 0 && k > 0 {
            a.data.withUnsafeBufferPointer { pa in
                b.data.withUnsafeBufferPointer { pb in
                    out.data.withUnsafeMutableBufferPointer { pc in
                        for i in 0..<batch {
                            let bOffset = batchB.isEmpty ? 0 : i * k * n
                            Gemm.multiply(pa.baseAddress.unsafelyUnwrapped + i * m * k, pb.baseAddress.unsafelyUnwrapped + bOffset,
                                          pc.baseAddress.unsafelyUnwrapped + i * m * n, m: m, n: n, k: k)
                        }
                    }
                }
            }
        }
        var finalShape = batchA + [m, n]
        if other.rank == 1 { finalShape.removeLast() }
        if rank == 1 { finalShape.remove(at: finalShape.count - (other.rank == 1 ? 1 : 2)) }
        if finalShape.isEmpty { return .scalar(out.data[0]) }
        return .tensor(try out.reshaped(finalShape))
    }
}
