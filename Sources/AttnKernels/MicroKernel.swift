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

    /// One 32-wide row of a tile: its two accumulators into out[0..<32].
    @inline(__always)
    static func putRow(_ low: Vector16, _ high: Vector16, _ out: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        put(low, out, accumulate); put(high, out + 16, accumulate)
    }

    /// A full tile of `shape`. A's element (r, p) is at a[r * rowStride + p * stepStride]:
    /// (lda, 1) reads a row-major matrix in place, (1, shape.rows) a strip packed by `packA`.
    /// `accumulate` adds to C instead of overwriting it.
    @inline(__always)
    public static func tile(
        _ shape: TileShape, k: Int, a: UnsafePointer<Float>, rowStride: Int, stepStride: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        switch shape {
        case .wide: tile8x32(k: k, a: a, rs: rowStride, ss: stepStride, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        case .narrow: tile6x16(k: k, a: a, rs: rowStride, ss: stepStride, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        }
    }

    /// A full tile whose A is a strip packed by `packA` (step p's rows at a[p * shape.rows])
    /// and whose B is a packed panel (rows shape.columns apart): the constant strides let the
    /// compiler address both with fixed offsets, 5-10% faster than `tile` in our measurements.
    /// With `prefetchingC`, C's rows are prefetched first: in a large GEMM they are the only
    /// operand not already in cache (an attention's score tile is, and skips it).
    @inline(__always)
    public static func packedTile(
        _ shape: TileShape, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
        accumulate: Bool, prefetchingC: Bool = true
    ) {
        switch shape {
        case .wide: packedTile8x32(k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate, prefetchingC: prefetchingC)
        case .narrow: packedTile6x16(k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate, prefetchingC: prefetchingC)
        }
    }

    @inline(never)
    static func packedTile8x32(k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                               accumulate: Bool, prefetchingC: Bool) {
        if prefetchingC { for r in 0..<8 { attn_prefetch_for_write(c + r * ldc); attn_prefetch_for_write(c + r * ldc + 16) } }
        tile8x32Body(k: k, a: a, rs: 1, ss: 8, b: b, ldb: 32, c: c, ldc: ldc, accumulate: accumulate)
    }

    @inline(never)
    static func packedTile6x16(k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                               accumulate: Bool, prefetchingC: Bool) {
        if prefetchingC { for r in 0..<6 { attn_prefetch_for_write(c + r * ldc) } }
        tile6x16Body(k: k, a: a, rs: 1, ss: 6, b: b, ldb: 16, c: c, ldc: ldc, accumulate: accumulate)
    }

    @inline(never)
    static func tile8x32(
        k: Int, a: UnsafePointer<Float>, rs: Int, ss: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        tile8x32Body(k: k, a: a, rs: rs, ss: ss, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
    }

    @inline(never)
    static func tile6x16(
        k: Int, a: UnsafePointer<Float>, rs: Int, ss: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        tile6x16Body(k: k, a: a, rs: rs, ss: ss, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
    }

    @inline(__always)
    static func tile8x32Body(
        k: Int, a: UnsafePointer<Float>, rs: Int, ss: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var c00 = Vector16(), c01 = Vector16(), c10 = Vector16(), c11 = Vector16()
        var c20 = Vector16(), c21 = Vector16(), c30 = Vector16(), c31 = Vector16()
        var c40 = Vector16(), c41 = Vector16(), c50 = Vector16(), c51 = Vector16()
        var c60 = Vector16(), c61 = Vector16(), c70 = Vector16(), c71 = Vector16()
        let a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs
        let a4 = a + 4 * rs, a5 = a + 5 * rs, a6 = a + 6 * rs, a7 = a + 7 * rs
        var bp = b, offset = 0
        for _ in 0..<k {
            let b0 = load(bp), b1 = load(bp + 16)
            var s = Vector16(repeating: a0[offset]); c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = Vector16(repeating: a1[offset]); c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = Vector16(repeating: a2[offset]); c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = Vector16(repeating: a3[offset]); c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = Vector16(repeating: a4[offset]); c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = Vector16(repeating: a5[offset]); c50.addProduct(s, b0); c51.addProduct(s, b1)
            s = Vector16(repeating: a6[offset]); c60.addProduct(s, b0); c61.addProduct(s, b1)
            s = Vector16(repeating: a7[offset]); c70.addProduct(s, b0); c71.addProduct(s, b1)
            offset += ss
            bp += ldb
        }
        putRow(c00, c01, c, accumulate); putRow(c10, c11, c + ldc, accumulate)
        putRow(c20, c21, c + 2 * ldc, accumulate); putRow(c30, c31, c + 3 * ldc, accumulate)
        putRow(c40, c41, c + 4 * ldc, accumulate); putRow(c50, c51, c + 5 * ldc, accumulate)
        putRow(c60, c61, c + 6 * ldc, accumulate); putRow(c70, c71, c + 7 * ldc, accumulate)
    }

    @inline(__always)
    static func tile6x16Body(
        k: Int, a: UnsafePointer<Float>, rs: Int, ss: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var c0 = Vector16(), c1 = Vector16(), c2 = Vector16(), c3 = Vector16(), c4 = Vector16(), c5 = Vector16()
        let a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs, a4 = a + 4 * rs, a5 = a + 5 * rs
        var bp = b, offset = 0
        for _ in 0..<k {
            let b0 = load(bp)
            c0.addProduct(Vector16(repeating: a0[offset]), b0)
            c1.addProduct(Vector16(repeating: a1[offset]), b0)
            c2.addProduct(Vector16(repeating: a2[offset]), b0)
            c3.addProduct(Vector16(repeating: a3[offset]), b0)
            c4.addProduct(Vector16(repeating: a4[offset]), b0)
            c5.addProduct(Vector16(repeating: a5[offset]), b0)
            offset += ss
            bp += ldb
        }
        put(c0, c, accumulate); put(c1, c + ldc, accumulate); put(c2, c + 2 * ldc, accumulate)
        put(c3, c + 3 * ldc, accumulate); put(c4, c + 4 * ldc, accumulate); put(c5, c + 5 * ldc, accumulate)
    }

    /// Copies rows [0, rows) x columns [0, k) of A (row stride lda) into the packed layout of a
    /// strip `height` rows tall, a[p * height + r], zero-filling rows past `rows`.
    public static func packA(height: Int, rows: Int, k: Int, a: UnsafePointer<Float>, lda: Int, into packed: UnsafeMutablePointer<Float>) {
        // A full strip of the 8 x 32 or 12 x 32 tile goes step by step, a step's eight rows stored
        // as one vector (the copy took 9-10% of a single-threaded 2048^3 product's samples row by
        // row, 4-5% this way), the tall strip's other four as a second one.
        if rows == height && (height == 8 || height == 12) {
            packed.copyEightRowsTransposed(from: a, rowStride: lda, count: k, columnStride: height)
            if height == 12 { (packed + 8).copyFourRowsTransposed(from: a + 8 * lda, rowStride: lda, count: k, columnStride: 12) }
            return
        }
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

    /// packA for A stored transposed: element (r, p) at a[p * lda + r], so each step's rows are
    /// contiguous and the strip is copied step by step.
    public static func packATransposed(height: Int, rows: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                       into packed: UnsafeMutablePointer<Float>) {
        for p in 0..<k {
            let destination = packed + p * height
            destination.copyShortRow(from: a + p * lda, count: rows)
            (destination + rows).update(repeating: 0, count: height - rows)
        }
    }
}
