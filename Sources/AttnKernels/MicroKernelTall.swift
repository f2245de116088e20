import CPUFeatures

// The 12 x 32 tile large products run on with AVX-512 (BLIS's choice for this core: 24 zmm
// accumulators of the 32). Per step it loads B's two vectors once for twelve rows instead of
// eight, so the panel streamed from L2 feeds half as many loads again per FMA: 1.04x and 1.07x
// on 2048^3 and 1024^3 with two threads (medians of alternating runs), 1.16x on both with the
// panel prefetch below. Every element of C still gets one FMA per k, in order, from zero, so the
// tile gives the 8 x 32 tile's bits.
extension MicroKernel {
    static let tallRows = 12
    /// How far ahead (in floats: four steps) the tile prefetches B's panel into L1. The panel
    /// streams from L2, and a third of the loop's samples sat on its loads: 1.07-1.14x in
    /// alternating runs (the gain shows in slow minutes; in quiet ones it is within the noise).
    static let panelPrefetchFloats = 128

    /// C[12 x 32] (+)= A B for a strip packed by `packA(height: 12, ...)` (step p's rows at
    /// a[12 p]) and a packed panel of B (rows 32 apart); C's rows are prefetched first, as in
    /// `packedTile`.
    @inline(never)
    static func packedTile12x32(k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                                accumulate: Bool) {
        for r in 0..<12 { attn_prefetch_for_write(c + r * ldc); attn_prefetch_for_write(c + r * ldc + 16) }
        var c00 = Vector16(), c01 = Vector16(), c10 = Vector16(), c11 = Vector16()
        var c20 = Vector16(), c21 = Vector16(), c30 = Vector16(), c31 = Vector16()
        var c40 = Vector16(), c41 = Vector16(), c50 = Vector16(), c51 = Vector16()
        var c60 = Vector16(), c61 = Vector16(), c70 = Vector16(), c71 = Vector16()
        var c80 = Vector16(), c81 = Vector16(), c90 = Vector16(), c91 = Vector16()
        var cA0 = Vector16(), cA1 = Vector16(), cB0 = Vector16(), cB1 = Vector16()
        var bp = b, ap = a
        for _ in 0..<k {
            // Past the panel's end this fetches the next panel's first steps, which come next.
            attn_prefetch_for_read(bp + panelPrefetchFloats); attn_prefetch_for_read(bp + panelPrefetchFloats + 16)
            let b0 = load(bp), b1 = load(bp + 16)
            var s = Vector16(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = Vector16(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = Vector16(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = Vector16(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = Vector16(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = Vector16(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
            s = Vector16(repeating: ap[6]); c60.addProduct(s, b0); c61.addProduct(s, b1)
            s = Vector16(repeating: ap[7]); c70.addProduct(s, b0); c71.addProduct(s, b1)
            s = Vector16(repeating: ap[8]); c80.addProduct(s, b0); c81.addProduct(s, b1)
            s = Vector16(repeating: ap[9]); c90.addProduct(s, b0); c91.addProduct(s, b1)
            s = Vector16(repeating: ap[10]); cA0.addProduct(s, b0); cA1.addProduct(s, b1)
            s = Vector16(repeating: ap[11]); cB0.addProduct(s, b0); cB1.addProduct(s, b1)
            ap += 12
            bp += 32
        }
        putRow(c00, c01, c, accumulate); putRow(c10, c11, c + ldc, accumulate); putRow(c20, c21, c + 2 * ldc, accumulate)
        putRow(c30, c31, c + 3 * ldc, accumulate); putRow(c40, c41, c + 4 * ldc, accumulate); putRow(c50, c51, c + 5 * ldc, accumulate)
        putRow(c60, c61, c + 6 * ldc, accumulate); putRow(c70, c71, c + 7 * ldc, accumulate); putRow(c80, c81, c + 8 * ldc, accumulate)
        putRow(c90, c91, c + 9 * ldc, accumulate); putRow(cA0, cA1, c + 10 * ldc, accumulate); putRow(cB0, cB1, c + 11 * ldc, accumulate)
    }
}
