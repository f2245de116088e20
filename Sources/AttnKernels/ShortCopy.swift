// Copies of short rows (a head's 16 columns, a bias row) without a call to memmove per row:
// at these lengths the call costs more than the copy, and a plain loop would be turned back
// into that call by the optimizer, so whole vectors are moved explicitly.
extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always)
    func copyShortRow(from source: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            UnsafeMutableRawPointer(self + i).storeBytes(of: UnsafeRawPointer(source + i).loadUnaligned(as: SIMD16<Float>.self),
                                                       as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            self[i] = source[i]
            i += 1
        }
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    /// Copies `count` columns of 8 rows (`rowStride` apart in `source`) transposed: column p's 8
    /// values go to self[p * columnStride ..< +8] as one vector store. Row by row, each scalar
    /// store would land `columnStride` floats past the last (packing A's strips and K^T's panels
    /// took two to three times their share of samples that way).
    @inline(__always)
    func copyEightRowsTransposed(from source: UnsafePointer<Float>, rowStride: Int, count: Int, columnStride: Int) {
        let r0 = source, r1 = source + rowStride, r2 = source + 2 * rowStride, r3 = source + 3 * rowStride
        let r4 = source + 4 * rowStride, r5 = source + 5 * rowStride, r6 = source + 6 * rowStride, r7 = source + 7 * rowStride
        for p in 0..<count {
            let column = SIMD8<Float>(r0[p], r1[p], r2[p], r3[p], r4[p], r5[p], r6[p], r7[p])
            UnsafeMutableRawPointer(self + p * columnStride).storeBytes(of: column, as: SIMD8<Float>.self)
        }
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    /// `copyEightRowsTransposed` for four rows (the rest of a 12-row strip).
    @inline(__always)
    func copyFourRowsTransposed(from source: UnsafePointer<Float>, rowStride: Int, count: Int, columnStride: Int) {
        let r0 = source, r1 = source + rowStride, r2 = source + 2 * rowStride, r3 = source + 3 * rowStride
        for p in 0..<count {
            UnsafeMutableRawPointer(self + p * columnStride).storeBytes(of: SIMD4<Float>(r0[p], r1[p], r2[p], r3[p]), as: SIMD4<Float>.self)
        }
    }
}
