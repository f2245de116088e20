import AttnKernels

// Reverse-mode gradients of script functions: `grad(f, x)` runs f on x tracked by a tape and
// walks the tape back from f's scalar result (docs/language.md, "Gradients").
enum GradBuiltins {
    /// f(x...) on a fresh tape; returns f's scalar value and the gradient for each input.
    static func differentiate(_ args: Arguments, _ interp: Interpreter) throws -> (value: Double, gradients: [Tensor], asList: Bool) {
        var inputs = [Tensor](), asList = false
        switch args["x"] {
        case let .tensor(t, _): inputs = [t]
        case let .list(items):
            asList = true
            inputs = try items.map {
                guard case let .tensor(t, _) = $0 else { throw BuiltinError(message: "`grad` differentiates with respect to tensors; the list holds a \($0.typeName)") }
                return t
            }
        default: throw BuiltinError(message: "`x` must be a tensor or a list of tensors")
        }
        let tape = Tape()
        let leaves = inputs.map { tape.leaf($0) }
        let result = try interp.call(args["f"], leaves.map { .tracked(TrackedTensor(tape: tape, variable: $0)) })
        let zeros = { try inputs.map { try Tensor(zeros: $0.shape) } }
        switch result {
        case let .tracked(out) where out.tape === tape:
            guard out.value.count == 1 else {
                throw BuiltinError(message: "`grad` needs f to return a scalar, got a tensor of shape \(formatShape(out.value.shape))",
                                   notes: ["help: reduce it, e.g. `sum(...)` or `mean(...)`"])
            }
            let gradients = try tape.gradients(of: out.variable)
            return (Double(out.value.data[0]), try leaves.enumerated().map { try gradients[$0.element] ?? Tensor(zeros: inputs[$0.offset].shape) }, asList)
        case let .int(n): return (Double(n), try zeros(), asList)  // f ignores x: every gradient is zero
        case let .float(x): return (x, try zeros(), asList)
        default:
            throw BuiltinError(message: "`grad` needs f to return a number computed from its arguments, got \(result.typeName)")
        }
    }

    static func pack(_ gradients: [Tensor], asList: Bool) -> Value {
        asList ? .list(gradients.map { .tensor($0) }) : .tensor(gradients[0])
    }

    static let doc = """
    f is called with x (or with the list's tensors as its arguments) tracked by a tape; its result \
    must be one number. Differentiable: + - * / @ ** and unary minus on tensors, sum, mean, tanh, \
    exp, softmax (last axis), attention and cross; anything else given a tracked tensor is an \
    error rather than a silently cut gradient. Attention's backward recomputes its scores tile by \
    tile, so memory stays O(N).
    """

    static let all: [Builtin] = [
        Builtin("grad", [.required("f", .function), .required("x", .tensorOrList)],
                summary: "Gradient of f's scalar result with respect to x (a tensor), or to each tensor of a list (f takes them as arguments).",
                doc: doc) { args, interp in
            let result = try differentiate(args, interp)
            return pack(result.gradients, asList: result.asList)
        },
        Builtin("value_and_grad", [.required("f", .function), .required("x", .tensorOrList)],
                summary: "{value, grad}: f's scalar result and its gradient, from one forward and one backward pass.",
                doc: doc) { args, interp in
            let result = try differentiate(args, interp)
            return .record(Record([("value", .float(result.value)), ("grad", pack(result.gradients, asList: result.asList))]))
        },
    ]
}
