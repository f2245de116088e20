import Foundation

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
    ]
}
