// Vectorised 2^x for the softmax: x = n + f with n = round(x), f in [-1/2, 1/2]; 2^f from its
// degree-7 Taylor polynomial (truncation error below 1e-8 there, so float rounding dominates),
// 2^n by building the exponent bits.
// Inputs below -126 (including -inf, used for masked keys) give exactly 0; above 127, 2^127.
public enum FastExp {
    // Taylor coefficients of 2^f = e^(f ln 2): (ln 2)^i / i!.
    @usableFromInline static let c1: Float = 0.693147182
    @usableFromInline static let c2: Float = 0.240226507
    @usableFromInline static let c3: Float = 0.0555041087
    @usableFromInline static let c4: Float = 0.00961812911
    @usableFromInline static let c5: Float = 0.00133335581
    @usableFromInline static let c6: Float = 0.000154035304
    @usableFromInline static let c7: Float = 0.0000152527338

    /// 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer, which then
    /// sits in the low mantissa bits. Plain vector adds and integer ops instead of the standard
    /// library's generic rounding and conversion, which do not vectorise.
    @usableFromInline static let roundingShifter: Float = 12_582_912

    /// 2^x on 16 lanes: one AVX-512 register, two AVX2 ones. Always inlined, so the lanes stay in
    /// registers on either (passed to a call, SIMD16 would go through memory on AVX2).
    @_transparent
    public static func exp2(_ x: SIMD16<Float>) -> SIMD16<Float> {
        typealias V = SIMD16<Float>
        let low = V(repeating: -126), high = V(repeating: 127)
        let underflow = x .< low
        let clamped = x.replacing(with: low, where: underflow).replacing(with: high, where: x .> high)
        return exp2(inRange: clamped, underflow: underflow)
    }

    /// 2^x for x <= 127 (or NaN), with exp2's bits: the softmax's s - max is never above 0, so
    /// its exponentials skip both clamps (two of about twenty instructions). Lanes below -126
    /// compute garbage from x that the final mask replaces with 0, as exp2's do from -126.
    @_transparent
    public static func exp2(atMost127 x: SIMD16<Float>) -> SIMD16<Float> {
        exp2(inRange: x, underflow: x .< SIMD16<Float>(repeating: -126))
    }

    /// 2^x for x in [-126, 127]; lanes in `underflow` give 0.
    @_transparent @usableFromInline
    static func exp2(inRange x: SIMD16<Float>, underflow: SIMDMask<SIMD16<Int32>>) -> SIMD16<Float> {
        typealias V = SIMD16<Float>
        let shifter = V(repeating: roundingShifter)
        let shifted = x + shifter
        let f = x - (shifted - shifter)
        var p = V(repeating: c7)
        p = V(repeating: c6).addingProduct(p, f)
        p = V(repeating: c5).addingProduct(p, f)
        p = V(repeating: c4).addingProduct(p, f)
        p = V(repeating: c3).addingProduct(p, f)
        p = V(repeating: c2).addingProduct(p, f)
        p = V(repeating: c1).addingProduct(p, f)
        p = V(repeating: 1).addingProduct(p, f)
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: Int32(bitPattern: roundingShifter.bitPattern))
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: V.self)
        return (p * scale).replacing(with: 0, where: underflow)
    }

    @inline(__always)
    public static func exp2(_ x: Float) -> Float {
        exp2(SIMD16<Float>(repeating: x))[0]
    }
}
