import AttnKernels
import Foundation

// Printing, lists, conversions, help and the seeded generator.
enum CoreBuiltins {
    static let all: [Builtin] = [
        Builtin("print", [.rest("values", .any), .optional("sep", .string, .string(" "))],
                summary: "Print values separated by `sep` (strings without quotes).") { args, interp in
            let sep = try args.string("sep")
            interp.print(args.variadic.map(Format.plain).joined(separator: sep) + "\n")
            return .none
        },
        Builtin("len", [.required("x", .any)], summary: "Length of a list, string or record, or the first axis of a tensor.") { args, _ in
            switch args["x"] {
            case let .list(items): return .int(items.count)
            case let .string(s): return .int(s.count)
            case let .record(r): return .int(r.keys.count)
            case let .tensor(t, _): return .int(t.shape[0])
            default: throw BuiltinError(message: "`len` needs a list, string, record or tensor, got \(args["x"].typeName)")
            }
        },
        Builtin("range", [.required("start", .int), .optional("stop", .optional(.int)), .optional("step", .int, .int(1))],
                summary: "Integers start, start+step, ... below stop; `range(n)` is 0..n-1.",
                doc: "Returns a list. `range(2, 10, 3)` is [2, 5, 8]; a negative step counts down.") { args, _ in
            let first = try args.int("start")
            let explicitStop = try args.optionalInt("stop")
            let start = explicitStop == nil ? 0 : first
            let stop = explicitStop ?? first
            let step = try args.int("step")
            guard step != 0 else { throw BuiltinError(message: "`range` step cannot be zero") }
            // Counted in the magnitude domain so that extreme bounds or steps cannot overflow.
            let distance = step > 0 ? (stop > start ? stop.magnitudeDifference(start) : 0) : (start > stop ? start.magnitudeDifference(stop) : 0)
            let steps = distance == 0 ? 0 : (distance - 1) / step.magnitude + 1
            guard steps <= UInt(Int.max / 64) else { throw KernelError.memoryLimit(requested: Int.max, limit: MemoryLimit.bytes) }
            let count = Int(steps)
            try MemoryLimit.reserve(count, bytesPerElement: MemoryLayout<Value>.stride)
            return .list((0..<count).map { .int(start &+ $0 &* step) })
        },
        Builtin("keys", [.required("r", .record)], summary: "The field names of a record, in order.") { args, _ in
            guard case let .record(r) = args["r"] else { return .none }
            return .list(r.keys.map { .string($0) })
        },
        Builtin("str", [.required("x", .any)], summary: "The text of a value, as `print` shows it.") { args, _ in
            .string(Format.plain(args["x"]))
        },
        Builtin("type", [.required("x", .any)], summary: "The type name of a value: int, float, tensor, ...") { args, _ in
            .string(args["x"].typeName)
        },
        Builtin("int", [.required("x", .any)], summary: "Convert a number (truncating toward zero), bool or string to an int.") { args, _ in
            switch args["x"] {
            case let .int(i): return .int(i)
            case let .float(f):
                guard f.isFinite, Swift.abs(f) < 9.2e18 else { throw BuiltinError(message: "`int` cannot convert \(Format.float(f))") }
                return .int(Int(f))
            case let .bool(b): return .int(b ? 1 : 0)
            case let .string(s):
                guard let i = Int(s.trimmingCharacters(in: .whitespaces)) else { throw BuiltinError(message: "`int` cannot parse \(Format.quote(s))") }
                return .int(i)
            default: throw BuiltinError(message: "`int` cannot convert a \(args["x"].typeName)")
            }
        },
        Builtin("float", [.required("x", .any)], summary: "Convert a number, bool or string to a float.") { args, _ in
            switch args["x"] {
            case let .int(i): return .float(Double(i))
            case let .float(f): return .float(f)
            case let .bool(b): return .float(b ? 1 : 0)
            case let .string(s):
                guard let f = Double(s.trimmingCharacters(in: .whitespaces)) else { throw BuiltinError(message: "`float` cannot parse \(Format.quote(s))") }
                return .float(f)
            default: throw BuiltinError(message: "`float` cannot convert a \(args["x"].typeName)")
            }
        },
        Builtin("round", [.required("x", .number), .optional("digits", .int, .int(0))],
                summary: "Round to `digits` decimals (halves away from zero); an int when digits is 0.") { args, _ in
            let x = try args.double("x"), digits = try args.int("digits")
            guard (0...15).contains(digits) else { throw BuiltinError(message: "`round` takes digits from 0 to 15, got \(digits)") }
            if digits == 0 {
                let r = x.rounded()
                guard r.isFinite, Swift.abs(r) < 9.2e18 else { return .float(r) }
                return .int(Int(r))
            }
            let factor = Foundation.pow(10.0, Double(digits))
            return .float((x * factor).rounded() / factor)
        },
        Builtin("assert", [.required("condition", .bool), .optional("message", .string, .string("assertion failed"))],
                summary: "Stop with an error when `condition` is false.") { args, _ in
            if try !args.bool("condition") { throw BuiltinError(message: try args.string("message")) }
            return .none
        },
        Builtin("seed", [.required("n", .int)], summary: "Reseed the global random generator (xoshiro256**).",
                doc: "Scripts start as if `seed(0)` had run, so the same script prints the same numbers\non every machine and thread count. Functions with `seed=` use their own generator.") { args, interp in
            interp.setSeed(try args.int("n"))
            return .none
        },
        Builtin("param", [.required("name", .string), .required("default", .any)],
                summary: "A script parameter: the variable `name` if it is already defined, else `default`.",
                doc: "Lets a script be run at another size without editing it, as notebook parameters do:\nsizes = [256]; include(\"tca_vs_cross.attn\") runs that script with sizes = [256].") { args, interp in
            interp.lookupVariable(try args.string("name")) ?? args["default"]
        },
        Builtin("include", [.required("path", .string)],
                summary: "Run another script in this session (its variables stay), as :load does.") { args, interp in
            try interp.include(path: FileBuiltins.resolve(try args.string("path"), interp), displayName: try args.string("path"))
            return .none
        },
        Builtin("help", [.optional("name", .any)], summary: "Describe a builtin or function; with no argument, list every builtin.") { args, interp in
            interp.print(try Help.text(for: args["name"], interpreter: interp))
            return .none
        },
    ]
}

/// Text for `help(...)` and the REPL's `:help`.
public enum Help {
    public static func text(for value: Value, interpreter: Interpreter) throws -> String {
        switch value {
        case .none: return overview()
        case let .builtin(b): return b.help
        case let .function(f): return "\(f.signature)\n  user function defined at \(location(f))\n"
        case let .string(name):
            if let found = interpreter.lookup(name) { return try text(for: found, interpreter: interpreter) }
            var notes = [String]()
            if let close = closestName(to: name, in: Registry.names + interpreter.variableNames) { notes.append("help: did you mean `\(close)`?") }
            throw BuiltinError(message: "no builtin or variable named `\(name)`", notes: notes)
        default:
            return "\(Format.inline(value)) is a value of type \(value.typeName), not a function; help(\"name\") looks a name up\n"
        }
    }

    static func location(_ f: Closure) -> String {
        let (line, column) = f.file.location(of: f.decl.span.start)
        return "\(f.file.name):\(line):\(column)"
    }

    public static func overview() -> String {
        var text = "Builtins (help(name) for details):\n"
        for family in Registry.families {
            text += "\n\(family.name):\n"
            let width = family.builtins.map(\.name.count).max() ?? 0
            for b in family.builtins.sorted(by: { $0.name < $1.name }) {
                text += "  " + b.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + b.summary + "\n"
            }
        }
        return text
    }
}

extension Int {
    /// |self - other| as an unsigned number, for self >= other, without overflow.
    func magnitudeDifference(_ other: Int) -> UInt {
        UInt(bitPattern: self) &- UInt(bitPattern: other)
    }
}
