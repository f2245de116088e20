import AttnKernels

// How builtins meet tracked tensors inside `grad`: the differentiable ones record on the tape;
// the ones that only look at a tensor (shape, print...) see its current value; every other
// builtin refuses, because running it on the value would silently cut the gradient.
enum Differentiable {
    typealias Rule = (Arguments, Tape, TrackedTensor) throws -> Value

    static func tracked(in values: [Value]) -> TrackedTensor? {
        for value in values { if case let .tracked(t) = value { return t } }
        return nil
    }

    /// Builtins that only inspect their argument.
    static let passive: Set<String> = ["print", "shape", "len", "type", "str", "assert", "help", "tolist", "maxerr", "relerr", "all", "any", "round"]

    static var names: [String] { rules.keys.sorted() }

    static func variable(_ args: Arguments, _ name: String, _ tape: Tape) throws -> Tape.Variable {
        switch args[name] {
        case let .tracked(t):
            guard t.tape === tape else { throw BuiltinError(message: "tensors tracked by two different `grad` calls cannot be combined") }
            return t.variable
        case let .tensor(t, _): return tape.leaf(t)
        default: throw BuiltinError(message: "`\(name)` must be a tensor here, got \(args[name].typeName)")
        }
    }

    static func wholeTensorOnly(_ args: Arguments, _ name: String) throws {
        if case .int = args["axis"] { throw BuiltinError(message: "inside `grad`, `\(name)` reduces the whole tensor (no axis=)") }
    }

    static let rules: [String: Rule] = [
        "sum": { args, tape, t in try wholeTensorOnly(args, "sum"); return t.wrap(try tape.sum(try variable(args, "x", tape))) },
        "mean": { args, tape, t in try wholeTensorOnly(args, "mean"); return t.wrap(try tape.mean(try variable(args, "x", tape))) },
        "tanh": { args, tape, t in t.wrap(tape.tanh(try variable(args, "x", tape))) },
        "exp": { args, tape, t in t.wrap(tape.exp(try variable(args, "x", tape))) },
        "softmax": { args, tape, t in
            let axis = try args.int("axis"), x = try variable(args, "x", tape)
            guard axis == -1 || axis == tape.value(x).rank - 1 else {
                throw BuiltinError(message: "inside `grad`, softmax works over the last axis only")
            }
            return t.wrap(try tape.softmax(x))
        },
        "attention": { args, tape, t in
            let options = AttentionOptions(causal: try args.bool("causal"), heads: try args.int("heads"), scale: try args.optionalDouble("scale").map(Float.init))
            return t.wrap(try tape.attention(try variable(args, "q", tape), try variable(args, "k", tape), try variable(args, "v", tape), options: options))
        },
        "cross": { args, tape, t in
            let ctx = try variable(args, "ctx", tape)
            return t.wrap(try tape.attention(try variable(args, "q", tape), ctx, ctx, options: AttentionOptions(heads: try args.int("heads"))))
        },
    ]

    /// Runs a builtin whose arguments include tracked tensors.
    static func call(_ builtin: Builtin, _ bound: Arguments, _ tracked: TrackedTensor, _ interp: Interpreter) throws -> Value {
        if let rule = rules[builtin.name] { return try rule(bound, tracked.tape, tracked) }
        if builtin.family == "autodiff" { throw BuiltinError(message: "`grad` inside `grad` (higher derivatives) is not supported") }
        throw BuiltinError(message: "`\(builtin.name)` is not differentiable, so it cannot take a tensor tracked by `grad`",
                           notes: ["note: differentiable builtins: " + names.joined(separator: ", ") + "; operators + - * / @ **"])
    }

    /// The value with tracked tensors replaced by their current values (for passive builtins).
    static func untracked(_ value: Value) -> Value {
        if case let .tracked(t) = value { return .tensor(t.value) }
        return value
    }
}
