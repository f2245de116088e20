import Foundation
import AttnKernels

// Wall-clock timing of user code. `bench` reports the median, which is robust on a shared machine.
enum TimingBuiltins {
    /// Runs `body` and returns its value with the wall time it took, in milliseconds.
    static func measure<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        return (value, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }

    static func milliseconds(_ body: () throws -> Void) rethrows -> Double {
        try measure(body).1
    }

    static let all: [Builtin] = [
        Builtin("time", [.required("f", .function)], summary: "Milliseconds taken by one call of f (a function of no arguments).") { args, interp in
            .float(try milliseconds { _ = try interp.call(args["f"], []) })
        },
        Builtin("bench", [.required("f", .function), .optional("repeat", .int, .int(5)), .optional("warmup", .int, .int(1))],
                summary: "Median milliseconds of `repeat` calls of f, after `warmup` calls.") { args, interp in
            let repeats = try args.int("repeat"), warmup = try args.int("warmup")
            guard repeats >= 1, warmup >= 0 else { throw BuiltinError(message: "`bench` needs repeat >= 1 and warmup >= 0") }
            for _ in 0..<warmup { _ = try interp.call(args["f"], []) }
            var times = [Double]()
            for _ in 0..<repeats { times.append(try milliseconds { _ = try interp.call(args["f"], []) }) }
            times.sort()
            let middle = times.count / 2
            return .float(times.count % 2 == 1 ? times[middle] : (times[middle - 1] + times[middle]) / 2)
        },
        Builtin("fma_peak", [.optional("ms", .number, .float(200)), .optional("threads", .optional(.int))],
                summary: "The machine's measured vector FMA throughput in GFLOP/s: the roofline for kernels' GFLOP/s.",
                doc: """
                Each of `threads` workers (default: all, as ATTN_THREADS sets) runs 16 independent \
                chains of 16-lane fused multiply-adds on registers for about `ms` milliseconds, so the \
                loop is bound by the FMA units alone. A kernel's GFLOP/s divided by this, measured in \
                the same minute, is its fraction of the peak: steadier than GFLOP/s on a shared machine \
                whose clock drifts. Meaningful in release builds only (the kernels target the host CPU \
                there). Varies from run to run: keep it out of golden outputs.
                """) { args, _ in
            let ms = try args.double("ms")
            guard ms > 0, ms <= 60_000 else { throw BuiltinError(message: "`fma_peak` needs 0 < ms <= 60000, got \(Format.float(ms))") }
            let threads = try args.optionalInt("threads") ?? Parallel.threadCount
            guard threads >= 1, threads <= Parallel.threadCount else {
                throw BuiltinError(message: "`fma_peak` needs 1 <= threads <= \(Parallel.threadCount), got \(threads)",
                                   notes: ["hint: ATTN_THREADS sets how many threads attn uses (now \(Parallel.threadCount))"])
            }
            return .float(try FmaPeak.measure(threads: threads, seconds: ms / 1000))
        },
        Builtin("measure", [.required("f", .function)],
                summary: "One call of f as {value, ms, peak_mib}: its result, wall time, and the peak resident memory it added.",
                doc: """
                peak_mib is the high-water mark of the process's resident memory during the call minus \
                what was resident when it began (Linux's VmHWM, reset before the call), so inputs that \
                already exist are not counted and short peaks are not missed. It includes the result \
                and any scratch the kernels allocate. Both ms and peak_mib vary from run to run: keep \
                them out of golden outputs.
                """) { args, interp in
            do {
                let run = try ResidentMemory.measurePeak { try measure { try interp.call(args["f"], []) } }
                let (value, ms) = run.value, peak = run.peakBytes
                return .record(Record([("value", value), ("ms", .float(ms)), ("peak_mib", .float(Double(peak) / 1_048_576))]))
            } catch let error as ResidentMemory.ProbeError {
                throw BuiltinError(message: error.description)
            }
        },
    ]
}
