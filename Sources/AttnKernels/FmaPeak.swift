import Foundation
import Synchronization

// The machine's vector FMA throughput, measured: the roofline that kernels' GFLOP/s are judged
// against. A shared machine's clock and neighbours drift by tens of percent within minutes, so a
// fraction of a peak measured in the same minute says more than GFLOP/s alone.
// Each worker runs `chains` independent chains of SIMD16 fused multiply-adds on registers only:
// enough chains to cover the FMA latency on every port, so the loop is bound by throughput.
public enum FmaPeak {
    public static let chains = 16
    /// Loop iterations between looks at the clock and the Ctrl-C flag (about 20 microseconds at
    /// 100 GFLOP/s, so reading the clock costs well under 1%).
    static let batch = 4096

    /// Flops of one iteration: `chains` FMAs of 16 lanes, 2 flops each.
    public static let flopsPerIteration = Double(chains * 16 * 2)

    /// `iterations` steps of a_i = a_i * factor + a_i on chains seeded with seed + i; returns the
    /// sum of the chains, so the work cannot be optimised away (and a test can check it).
    @inline(never)
    public static func chainSum(iterations: Int, seed: Float, factor: Float) -> Float {
        typealias V = SIMD16<Float>
        let base = V(repeating: seed), m = V(repeating: factor)
        var a0 = base, a1 = base + 1, a2 = base + 2, a3 = base + 3, a4 = base + 4, a5 = base + 5, a6 = base + 6, a7 = base + 7
        var a8 = base + 8, a9 = base + 9, a10 = base + 10, a11 = base + 11, a12 = base + 12, a13 = base + 13, a14 = base + 14, a15 = base + 15
        for _ in 0..<iterations {
            a0 = a0.addingProduct(a0, m); a1 = a1.addingProduct(a1, m); a2 = a2.addingProduct(a2, m); a3 = a3.addingProduct(a3, m)
            a4 = a4.addingProduct(a4, m); a5 = a5.addingProduct(a5, m); a6 = a6.addingProduct(a6, m); a7 = a7.addingProduct(a7, m)
            a8 = a8.addingProduct(a8, m); a9 = a9.addingProduct(a9, m); a10 = a10.addingProduct(a10, m); a11 = a11.addingProduct(a11, m)
            a12 = a12.addingProduct(a12, m); a13 = a13.addingProduct(a13, m); a14 = a14.addingProduct(a14, m); a15 = a15.addingProduct(a15, m)
        }
        let total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15))
        return total[0]
    }

    /// GFLOP/s of `threads` workers (at most `Parallel.threadCount`) running the chains for about
    /// `seconds` of wall time. Throws `KernelError.cancelled` on Ctrl-C.
    public static func measure(threads: Int, seconds: Double) throws -> Double {
        let workers = max(1, min(threads, Parallel.threadCount))
        let iterations = Atomic<Int>(0)
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start + UInt64(max(0, seconds) * 1e9)
        // A factor just below 0 keeps every chain finite and away from denormals: a <- a (1 + factor).
        Parallel.forEach(chunks: workers) { worker in
            var done = 0, sink: Float = 0
            repeat {
                sink += chainSum(iterations: batch, seed: Float(worker), factor: -1e-7)
                done += batch
            } while DispatchTime.now().uptimeNanoseconds < deadline && !Cancellation.isRequested
            // Reading `sink` keeps the calls' results in use, so the optimiser cannot drop them
            // (the chains stay finite: it is never NaN).
            iterations.wrappingAdd(sink.isNaN ? 0 : done, ordering: .relaxed)
        }
        try Cancellation.check()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(iterations.load(ordering: .relaxed)) * flopsPerIteration / elapsed / 1e9
    }
}
