import Foundation

// attn's own random number generator, so that a seeded script prints the same numbers on every
// machine and thread count: xoshiro256** (Blackman & Vigna) seeded through SplitMix64.
// Uniform floats take the top 24 bits: u = (x >> 40) * 2^-24, in [0, 1).
// Normals use the Box-Muller transform on two uniform doubles (53 bits each), producing a pair;
// both values of the pair are used, in order. Draws are always sequential, never split over threads.
public struct Xoshiro256: Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Double?

    public init(seed: UInt64) {
        var sm = seed
        func splitMix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
        spareNormal = nil
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Xoshiro256.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = Xoshiro256.rotl(s.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits (exactly representable as Float).
    public mutating func uniformFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniformDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    public mutating func normal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        // 1 - u keeps the argument of log in (0, 1].
        let u1 = 1 - uniformDouble()
        let u2 = uniformDouble()
        let radius = (-2 * Foundation.log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        spareNormal = radius * Foundation.sin(angle)
        return radius * Foundation.cos(angle)
    }

    /// Uniform integer in 0..<bound (bound > 0), by rejection so it is unbiased.
    public mutating func integer(below bound: UInt64) -> UInt64 {
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let x = next()
            if x < limit { return x % bound }
        }
    }
}

public extension Tensor {
    static func randn(_ shape: [Int], rng: inout Xoshiro256) throws -> Tensor {
        var t = try Tensor(zeros: shape)
        for i in t.data.indices { t.data[i] = Float(rng.normal()) }
        return t
    }

    static func rand(_ shape: [Int], rng: inout Xoshiro256) throws -> Tensor {
        var t = try Tensor(zeros: shape)
        for i in t.data.indices { t.data[i] = rng.uniformFloat() }
        return t
    }
}
