import CPUFeatures
import Foundation

// The register-blocked micro-kernel every fast path runs on (BLIS design):
//   C[R x C] (+)= A[R x k] * B[k x C]
// A is read by broadcasting one element of each of R rows (row stride lda); B is one contiguous
// row of C floats per step (row stride ldb: a packed panel, or a matrix's own rows); the tile of
// C lives in registers for the whole k loop. Two shapes, chosen once from the CPU:
//   8 x 32 with AVX-512 (16 zmm accumulators of the 32 registers),
//   6 x 16 otherwise (AVX2: 12 ymm accumulators of the 16 registers; SIMD16 is 2 ymm).
// Both compute every element of C the same way (one FMA per k, in order), so the result does not
// depend on the shape, and the code is correct on any target (the compiler splits SIMD16 into
// whatever vectors the target has).
public typealias Vector16 = SIMD16<Float>

public enum TileShape: String, CaseIterable, Sendable {
    case wide = "8x32"
    case narrow = "6x16"

    public var rows: Int { self == .wide ? 8 : 6 }
    public var columns: Int { self == .wide ? 32 : 16 }

    /// From ATTN_MICROKERNEL ("8x32" or "6x16") when set, else from the CPU's features.
    public static let host: TileShape = {
        if let forced = ProcessInfo.processInfo.environment["ATTN_MICROKERNEL"], let shape = TileShape(rawValue: forced) { return shape }
        return attn_cpu_has_avx512f() != 0 ? .wide : .narrow
    }()
}

public enum MicroKernel {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector16 {
        UnsafeRawPointer(p).loadUnaligned(as: Vector16.self)
    }

    @inline(__always)
    static func store(_ v: Vector16, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector16.self)
    }

    @inline(__always)
    static func put(_ x: Vector16, _ out: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        store(accumulate ? load(out) + x : x, out)
    }

    /// A full tile of `shape`. `accumulate` adds to C instead of overwriting it.
    @inline(__always)
    public static func tile(
        _ shape: TileShape, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        switch shape {
        case .wide: tile8x32(k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        case .narrow: tile6x16(k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        }
    }

    @inline(never)
    static func tile8x32(
        k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var c00 = Vector16(), c01 = Vector16(), c10 = Vector16(), c11 = Vector16()
        var c20 = Vector16(), c21 = Vector16(), c30 = Vector16(), c31 = Vector16()
        var c40 = Vector16(), c41 = Vector16(), c50 = Vector16(), c51 = Vector16()
        var c60 = Vector16(), c61 = Vector16(), c70 = Vector16(), c71 = Vector16()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
        let a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda
        var bp = b
        for p in 0..<k {
            let b0 = load(bp), b1 = load(bp + 16)
            var s = Vector16(repeating: a0[p]); c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = Vector16(repeating: a1[p]); c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = Vector16(repeating: a2[p]); c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = Vector16(repeating: a3[p]); c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = Vector16(repeating: a4[p]); c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = Vector16(repeating: a5[p]); c50.addProduct(s, b0); c51.addProduct(s, b1)
            s = Vector16(repeating: a6[p]); c60.addProduct(s, b0); c61.addProduct(s, b1)
            s = Vector16(repeating: a7[p]); c70.addProduct(s, b0); c71.addProduct(s, b1)
            bp += ldb
        }
        put(c00, c, accumulate); put(c01, c + 16, accumulate)
        put(c10, c + ldc, accumulate); put(c11, c + ldc + 16, accumulate)
        put(c20, c + 2 * ldc, accumulate); put(c21, c + 2 * ldc + 16, accumulate)
        put(c30, c + 3 * ldc, accumulate); put(c31, c + 3 * ldc + 16, accumulate)
        put(c40, c + 4 * ldc, accumulate); put(c41, c + 4 * ldc + 16, accumulate)
        put(c50, c + 5 * ldc, accumulate); put(c51, c + 5 * ldc + 16, accumulate)
        put(c60, c + 6 * ldc, accumulate); put(c61, c + 6 * ldc + 16, accumulate)
        put(c70, c + 7 * ldc, accumulate); put(c71, c + 7 * ldc + 16, accumulate)
    }

    @inline(never)
    static func tile6x16(
        k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var c0 = Vector16(), c1 = Vector16(), c2 = Vector16(), c3 = Vector16(), c4 = Vector16(), c5 = Vector16()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
        var bp = b
        for p in 0..<k {
            let b0 = load(bp)
            c0.addProduct(Vector16(repeating: a0[p]), b0)
            c1.addProduct(Vector16(repeating: a1[p]), b0)
            c2.addProduct(Vector16(repeating: a2[p]), b0)
            c3.addProduct(Vector16(repeating: a3[p]), b0)
            c4.addProduct(Vector16(repeating: a4[p]), b0)
            c5.addProduct(Vector16(repeating: a5[p]), b0)
            bp += ldb
        }
        put(c0, c, accumulate); put(c1, c + ldc, accumulate); put(c2, c + 2 * ldc, accumulate)
        put(c3, c + 3 * ldc, accumulate); put(c4, c + 4 * ldc, accumulate); put(c5, c + 5 * ldc, accumulate)
    }

    /// The same tile with A packed: for each k step, the tile's rows are contiguous
    /// (a[p * rows + r]), so every broadcast uses one pointer and a constant offset.
    @inline(__always)
    public static func packedTile(
        _ shape: TileShape, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        switch shape {
        case .wide: packedTile8x32(k: k, a: a, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        case .narrow: packedTile6x16(k: k, a: a, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        }
    }

    @inline(never)
    static func packedTile8x32(
        k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var c00 = Vector16(), c01 = Vector16(), c10 = Vector16(), c11 = Vector16()
        var c20 = Vector16(), c21 = Vector16(), c30 = Vector16(), c31 = Vector16()
        var c40 = Vector16(), c41 = Vector16(), c50 = Vector16(), c51 = Vector16()
        var c60 = Vector16(), c61 = Vector16(), c70 = Vector16(), c71 = Vector16()
        var ap = a, bp = b
        for _ in 0..<k {
            let b0 = load(bp), b1 = load(bp + 16)
            var s = Vector16(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = Vector16(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = Vector16(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = Vector16(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = Vector16(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = Vector16(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
            s = Vector16(repeating: ap[6]); c60.addProduct(s, b0); c61.addProduct(s, b1)
            s = Vector16(repeating: ap[7]); c70.addProduct(s, b0); c71.addProduct(s, b1)
            ap += 8
            bp += ldb
        }
        put(c00, c, accumulate); put(c01, c + 16, accumulate)
        put(c10, c + ldc, accumulate); put(c11, c + ldc + 16, accumulate)
        put(c20, c + 2 * ldc, accumulate); put(c21, c + 2 * ldc + 16, accumulate)
        put(c30, c + 3 * ldc, accumulate); put(c31, c + 3 * ldc + 16, accumulate)
        put(c40, c + 4 * ldc, accumulate); put(c41, c + 4 * ldc + 16, accumulate)
        put(c50, c + 5 * ldc, accumulate); put(c51, c + 5 * ldc + 16, accumulate)
        put(c60, c + 6 * ldc, accumulate); put(c61, c + 6 * ldc + 16, accumulate)
        put(c70, c + 7 * ldc, accumulate); put(c71, c + 7 * ldc + 16, accumulate)
    }

    @inline(never)
    static func packedTile6x16(
        k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var c0 = Vector16(), c1 = Vector16(), c2 = Vector16(), c3 = Vector16(), c4 = Vector16(), c5 = Vector16()
        var ap = a, bp = b
        var remaining = k
        // Two steps per iteration: less loop overhead between the FMAs.
        while remaining >= 2 {
            let b0 = load(bp), b1 = load(bp + ldb)
            c0.addProduct(Vector16(repeating: ap[0]), b0)
            c1.addProduct(Vector16(repeating: ap[1]), b0)
            c2.addProduct(Vector16(repeating: ap[2]), b0)
            c3.addProduct(Vector16(repeating: ap[3]), b0)
            c4.addProduct(Vector16(repeating: ap[4]), b0)
            c5.addProduct(Vector16(repeating: ap[5]), b0)
            c0.addProduct(Vector16(repeating: ap[6]), b1)
            c1.addProduct(Vector16(repeating: ap[7]), b1)
            c2.addProduct(Vector16(repeating: ap[8]), b1)
            c3.addProduct(Vector16(repeating: ap[9]), b1)
            c4.addProduct(Vector16(repeating: ap[10]), b1)
            c5.addProduct(Vector16(repeating: ap[11]), b1)
            ap += 12
            bp += 2 * ldb
            remaining -= 2
        }
        if remaining == 1 {
            let b0 = load(bp)
            c0.addProduct(Vector16(repeating: ap[0]), b0)
            c1.addProduct(Vector16(repeating: ap[1]), b0)
            c2.addProduct(Vector16(repeating: ap[2]), b0)
            c3.addProduct(Vector16(repeating: ap[3]), b0)
            c4.addProduct(Vector16(repeating: ap[4]), b0)
            c5.addProduct(Vector16(repeating: ap[5]), b0)
        }
        put(c0, c, accumulate); put(c1, c + ldc, accumulate); put(c2, c + 2 * ldc, accumulate)
        put(c3, c + 3 * ldc, accumulate); put(c4, c + 4 * ldc, accumulate); put(c5, c + 5 * ldc, accumulate)
    }

    /// Copies rows [0, rows) x columns [0, k) of A (row stride lda) into the packed layout
    /// a[p * shape.rows + r], zero-filling rows past `rows`.
    public static func packA(_ shape: TileShape, rows: Int, k: Int, a: UnsafePointer<Float>, lda: Int, into packed: UnsafeMutablePointer<Float>) {
        let height = shape.rows
        if rows < height { packed.update(repeating: 0, count: height * k) }
        for r in 0..<rows {
            let source = a + r * lda
            var destination = packed + r
            for p in 0..<k {
                destination.pointee = source[p]
                destination += height
            }
        }
    }

    /// Any tile smaller than `shape`: computed in full on zero-padded copies, then the valid part
    /// is written. Used only at the edges of a matrix.
    /// A's element (r, p) is at a[r * lda + p * aStride].
    public static func edgeTile(
        _ shape: TileShape, rows m: Int, columns n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, aStride: Int = 1,
        b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let depth = max(k, 1)
        let paddedA = UnsafeMutablePointer<Float>.allocate(capacity: shape.rows * depth)
        let paddedB = UnsafeMutablePointer<Float>.allocate(capacity: depth * shape.columns)
        let result = UnsafeMutablePointer<Float>.allocate(capacity: shape.rows * shape.columns)
        defer { paddedA.deallocate(); paddedB.deallocate(); result.deallocate() }
        paddedA.update(repeating: 0, count: shape.rows * depth)
        paddedB.update(repeating: 0, count: depth * shape.columns)
        for r in 0..<m { for p in 0..<k { paddedA[r * depth + p] = a[r * lda + p * aStride] } }
        for p in 0..<k { (paddedB + p * shape.columns).update(from: b + p * ldb, count: n) }
        tile(shape, k: k, a: paddedA, lda: depth, b: paddedB, ldb: shape.columns, c: result, ldc: shape.columns, accumulate: false)
        for r in 0..<m {
            for j in 0..<n {
                let value = result[r * shape.columns + j]
                c[r * ldc + j] = accumulate ? c[r * ldc + j] + value : value
            }
        }
    }
}
