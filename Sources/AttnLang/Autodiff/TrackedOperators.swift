import AttnKernels

// Operators when an operand is tracked (inside `grad`): + - * / @ ** and unary minus are
// recorded on the operand's tape. A plain tensor or number operand is a constant.
enum TrackedOperators {
    static func involvesTracking(_ lhs: Value, _ rhs: Value) -> Bool {
        if case .tracked = lhs { return true }
        if case .tracked = rhs { return true }
        return false
    }

    /// The operand as a tape variable (constants become leaves), or nil for a number.
    static func variable(_ value: Value, on tape: Tape) throws -> Tape.Variable? {
        switch value {
        case let .tracked(t):
            guard t.tape === tape else { throw OperatorError(message: "these tensors are tracked by two different `grad` calls") }
            return t.variable
        case let .tensor(t, _): return tape.leaf(t)
        default: return nil
        }
    }

    static func binary(_ op: BinaryOperator, _ lhs: Value, _ rhs: Value) throws -> Value {
        let tracked: TrackedTensor
        if case let .tracked(t) = lhs { tracked = t } else if case let .tracked(t) = rhs { tracked = t } else {
            throw OperatorError(message: "internal: no tracked operand")
        }
        let tape = tracked.tape
        let a = try variable(lhs, on: tape), b = try variable(rhs, on: tape)
        do {
            switch (op, a, b) {
            case let (.add, x?, y?): return tracked.wrap(try addition(tape, x, y))
            case let (.subtract, x?, y?): return tracked.wrap(try addition(tape, x, tape.scale(y, by: -1)))
            case let (.multiply, x?, y?): return tracked.wrap(try tape.multiply(x, y))
            case let (.matmul, x?, y?): return tracked.wrap(try tape.matmul(x, y))
            case let (.multiply, x?, nil): return tracked.wrap(tape.scale(x, by: Float(rhs.number ?? 1)))
            case let (.multiply, nil, y?): return tracked.wrap(tape.scale(y, by: Float(lhs.number ?? 1)))
            case let (.divide, x?, nil):
                guard let divisor = rhs.number, divisor != 0 else { throw OperatorError(message: "division by zero") }
                return tracked.wrap(tape.scale(x, by: Float(1 / divisor)))
            case let (.power, x?, nil):
                guard let exponent = rhs.number else { break }
                return tracked.wrap(tape.power(x, Float(exponent)))
            default: break
            }
        } catch let e as KernelError {
            throw OperatorError(message: e.description)
        }
        throw OperatorError(message: "`\(op.rawValue)` is not differentiable for \(lhs.typeName) and \(rhs.typeName) inside `grad`",
                            notes: ["note: differentiable: a + b, a - b (equal shapes, or a [cols] bias), a * b, a * number, a / number, a @ b, a ** number, -a"])
    }

    /// a + b, also with the bias on the left.
    static func addition(_ tape: Tape, _ x: Tape.Variable, _ y: Tape.Variable) throws -> Tape.Variable {
        if tape.value(x).rank == 1 && tape.value(y).rank == 2 { return try tape.add(y, x) }
        return try tape.add(x, y)
    }

    static func negate(_ tracked: TrackedTensor) -> Value {
        tracked.wrap(tracked.tape.scale(tracked.variable, by: -1))
    }
}
