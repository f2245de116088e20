// C[M, N] = A[M, K] * B[K, N], row-major, on the micro-kernel (MicroKernel.swift).
// Blocking (GotoBLAS/BLIS): C is cut into fixed blocks of rowBlock x columnBlock, one chunk of
// parallel work each (so the result does not depend on the thread count). Within a chunk, K is
// cut into slices of depthBlock; each slice of B is packed into 32-column panels (contiguous rows
// of 32 floats, zero-padded at the right edge), and every 8-row strip of A meets every panel.
// Each strip of A is packed too (its rows interleaved per k step), once per depth slice.
public enum Gemm {
    /// Rows per chunk: a whole number of tiles (so only a matrix's last strip is partial).
    static func rowBlock(_ shape: TileShape) -> Int { shape.rows * 20 }
    static let columnBlock = 512
    static let depthBlock = 256

    public static func multiply(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, shape: TileShape = .host
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            c.update(repeating: 0, count: m * n)
            return
        }
        let rowBlock = Gemm.rowBlock(shape)
        let rowChunks = (m + rowBlock - 1) / rowBlock
        let columnChunks = (n + columnBlock - 1) / columnBlock
        Parallel.forEach(chunks: rowChunks * columnChunks) { chunk in
            let rowStart = (chunk / columnChunks) * rowBlock
            let rowEnd = min(m, rowStart + rowBlock)
            let columnStart = (chunk % columnChunks) * columnBlock
            let columnEnd = min(n, columnStart + columnBlock)
            let panels = (columnEnd - columnStart + shape.columns - 1) / shape.columns
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: panels * depthBlock * shape.columns)
            let strips = (rowEnd - rowStart + shape.rows - 1) / shape.rows
            let packedA = UnsafeMutablePointer<Float>.allocate(capacity: strips * shape.rows * depthBlock)
            let edge = UnsafeMutablePointer<Float>.allocate(capacity: shape.rows * shape.columns)
            defer { packed.deallocate(); packedA.deallocate(); edge.deallocate() }
            var depthStart = 0
            while depthStart < k {
                let depth = min(depthBlock, k - depthStart)
                packPanels(b + depthStart * n + columnStart, ldb: n, depth: depth, columns: columnEnd - columnStart,
                           width: shape.columns, into: packed)
                for strip in 0..<strips {
                    let row = rowStart + strip * shape.rows
                    MicroKernel.packA(shape, rows: min(shape.rows, rowEnd - row), k: depth, a: a + row * k + depthStart, lda: k,
                                      into: packedA + strip * shape.rows * depth)
                }
                for panel in 0..<panels {
                    let column = columnStart + panel * shape.columns
                    let width = min(shape.columns, columnEnd - column)
                    let panelData = packed + panel * depth * shape.columns
                    for strip in 0..<strips {
                        let row = rowStart + strip * shape.rows
                        let height = min(shape.rows, rowEnd - row)
                        let aStrip = packedA + strip * shape.rows * depth
                        let cTile = c + row * n + column
                        if height == shape.rows && width == shape.columns {
                            MicroKernel.tile(shape, k: depth, a: aStrip, rowStride: 1, stepStride: shape.rows, b: panelData,
                                             ldb: shape.columns, c: cTile, ldc: n, accumulate: depthStart > 0)
                        } else {
                            // Packed A and B are zero-padded: run the full tile into a scratch tile
                            // and keep its valid part.
                            MicroKernel.tile(shape, k: depth, a: aStrip, rowStride: 1, stepStride: shape.rows, b: panelData,
                                             ldb: shape.columns, c: edge, ldc: shape.columns, accumulate: false)
                            for r in 0..<height {
                                for j in 0..<width {
                                    let value = edge[r * shape.columns + j]
                                    cTile[r * n + j] = depthStart > 0 ? cTile[r * n + j] + value : value
                                }
                            }
                        }
                    }
                }
                depthStart += depth
            }
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
        var out = try Tensor(zeros: batchA + [m, n])
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
