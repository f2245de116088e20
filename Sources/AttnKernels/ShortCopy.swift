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
