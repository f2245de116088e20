// C[M, N] = A[M, K] * B[K, N], row-major. Rows of C are split into fixed blocks (one chunk each)
// so the result does not depend on the thread count. The inner loop is an axpy over a row of B,
// which the compiler vectorises; a packed register-blocked micro-kernel is the fast path's job.
public enum Gemm {
    static let rowBlock = 32
    static let depthBlock = 256

    public static func multiply(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int
    ) {
        let chunks = (m + rowBlock - 1) / rowBlock
        Parallel.forEach(chunks: chunks) { chunk in
            let rowStart = chunk * rowBlock
            let rowEnd = Swift.min(m, rowStart + rowBlock)
            for i in rowStart..<rowEnd { (c + i * n).update(repeating: 0, count: n) }
            var p0 = 0
            while p0 < k {
                let p1 = Swift.min(k, p0 + depthBlock)
                for i in rowStart..<rowEnd {
                    let cRow = c + i * n
                    for p in p0..<p1 {
                        let scale = a[i * k + p]
                        let bRow = b + p * n
                        for j in 0..<n { cRow[j] += scale * bRow[j] }
                    }
                }
                p0 = p1
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
                        Gemm.multiply(pa.baseAddress.unsafelyUnwrapped + i * m * k, pb.baseAddress.unsafelyUnwrapped + bOffset, pc.baseAddress.unsafelyUnwrapped + i * m * n, m: m, n: n, k: k)
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
