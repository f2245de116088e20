import AttnKernels
import Foundation

// Arithmetic, comparison and matrix product on values. Integers stay integers (overflow is an
// error, never a wrap or a trap) except `/`, which always gives a float; a number and a tensor
// combine elementwise; two tensors broadcast as in NumPy.
struct OperatorError: Error {
    var message: String
    var notes: [String] = []
}

enum Operators {
    static func binary(_ op: BinaryOperator, _ lhs: Value, _ rhs: Value) throws -> Value {
        if TrackedOperators.involvesTracking(lhs, rhs) { return try TrackedOperators.binary(op, lhs, rhs) }
        switch (lhs, rhs) {
        case let (.int(a), .int(b)): return try integer(op, a, b)
        case let (.tensor(a, _), .tensor(b, _)): return try tensors(op, a, b)
        case let (.tensor(a, _), _) where rhs.number != nil:
            return try tensorScalar(op, a, Float(rhs.number!), scalarOnLeft: false)
        case let (_, .tensor(b, _)) where lhs.number != nil:
            return try tensorScalar(op, b, Float(lhs.number!), scalarOnLeft: true)
        default: break
        }
        if let a = lhs.number, let b = rhs.number { return try floating(op, a, b) }
        switch (op, lhs, rhs) {
        case let (.add, .string(a), .string(b)): return .string(a + b)
        case let (.add, .list(a), .list(b)):
            try MemoryLimit.reserve(a.count + b.count, bytesPerElement: MemoryLayout<Value>.stride)
            return .list(a + b)
        case let (.multiply, .list(a), .int(n)), let (.multiply, .int(n), .list(a)):
            let count = max(0, n).multipliedReportingOverflow(by: a.count)
            guard !count.overflow else { throw OperatorError(message: "list repetition is too large") }
            try MemoryLimit.reserve(count.partialValue, bytesPerElement: MemoryLayout<Value>.stride)
            return .list(Array([[Value]](repeating: a, count: max(0, n)).joined()))
        case (.equal, _, _): return .bool(equal(lhs, rhs))
        case (.notEqual, _, _): return .bool(!equal(lhs, rhs))
        case let (.less, .string(a), .string(b)): return .bool(a < b)
        case let (.lessEqual, .string(a), .string(b)): return .bool(a <= b)
        case let (.greater, .string(a), .string(b)): return .bool(a > b)
        case let (.greaterEqual, .string(a), .string(b)): return .bool(a >= b)
        default:
            var notes = [String]()
            if op == .add, case .string = lhs { notes.append("help: convert with `str(...)` first: \"n = \" + str(n)") }
            if op == .matmul { notes.append("help: `@` multiplies tensors; make one with `tensor([...])`") }
            throw OperatorError(message: "`\(op.rawValue)` is not defined for \(lhs.typeName) and \(rhs.typeName)", notes: notes)
        }
    }

    static func integer(_ op: BinaryOperator, _ a: Int, _ b: Int) throws -> Value {
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Value {
            guard !result.overflow else {
                throw OperatorError(message: "integer overflow in `\(a) \(op.rawValue) \(b)`", notes: ["help: use floats, e.g. `\(a).0`"])
            }
            return .int(result.partialValue)
        }
        switch op {
        case .add: return try checked(a.addingReportingOverflow(b))
        case .subtract: return try checked(a.subtractingReportingOverflow(b))
        case .multiply: return try checked(a.multipliedReportingOverflow(by: b))
        case .divide:
            guard b != 0 else { throw OperatorError(message: "division by zero") }
            return .float(Double(a) / Double(b))
        case .modulo:
            guard b != 0 else { throw OperatorError(message: "modulo by zero") }
            if a == Int.min && b == -1 { return .int(0) }
            let r = a % b
            return .int(r != 0 && (r < 0) != (b < 0) ? r + b : r)
        case .power:
            if b < 0 { return .float(Foundation.pow(Double(a), Double(b))) }
            var result = 1, base = a, exponent = b
            while exponent > 0 {
                if exponent & 1 == 1 { result = try checkedInt(result.multipliedReportingOverflow(by: base), a, b) }
                exponent >>= 1
                if exponent > 0 { base = try checkedInt(base.multipliedReportingOverflow(by: base), a, b) }
            }
            return .int(result)
        case .matmul:
            throw OperatorError(message: "`@` is not defined for int and int", notes: ["help: `@` multiplies tensors; use `*` for numbers"])
        case .equal: return .bool(a == b)
        case .notEqual: return .bool(a != b)
        case .less: return .bool(a < b)
        case .lessEqual: return .bool(a <= b)
        case .greater: return .bool(a > b)
        case .greaterEqual: return .bool(a >= b)
        }
    }

    static func checkedInt(_ r: (partialValue: Int, overflow: Bool), _ a: Int, _ b: Int) throws -> Int {
        guard !r.overflow else {
            throw OperatorError(message: "integer overflow in `\(a) ** \(b)`", notes: ["help: use floats, e.g. `\(a).0 ** \(b)`"])
        }
        return r.partialValue
    }

    static func floating(_ op: BinaryOperator, _ a: Double, _ b: Double) throws -> Value {
        switch op {
        case .add: return .float(a + b)
        case .subtract: return .float(a - b)
        case .multiply: return .float(a * b)
        case .divide: return .float(a / b)
        case .modulo:
            let r = fmod(a, b)
            return .float(r != 0 && (r < 0) != (b < 0) ? r + b : r)
        case .power: return .float(Foundation.pow(a, b))
        case .matmul: throw OperatorError(message: "`@` is not defined for numbers", notes: ["help: use `*` for numbers"])
        case .equal: return .bool(a == b)
        case .notEqual: return .bool(a != b)
        case .less: return .bool(a < b)
        case .lessEqual: return .bool(a <= b)
        case .greater: return .bool(a > b)
        case .greaterEqual: return .bool(a >= b)
        }
    }

    static func kernelOp(_ op: BinaryOperator) -> AttnKernels.BinaryOp? {
        switch op {
        case .add: return .add
        case .subtract: return .sub
        case .multiply: return .mul
        case .divide: return .div
        case .modulo: return .mod
        case .power: return .pow
        case .equal: return .eq
        case .notEqual: return .ne
        case .less: return .lt
        case .lessEqual: return .le
        case .greater: return .gt
        case .greaterEqual: return .ge
        case .matmul: return nil
        }
    }

    static func tensors(_ op: BinaryOperator, _ a: Tensor, _ b: Tensor) throws -> Value {
        if op == .matmul {
            switch try a.matmul(b) {
            case let .scalar(x): return .float(Double(x))
            case let .tensor(t): return .tensor(t)
            }
        }
        return .tensor(try a.binary(kernelOp(op)!, b))
    }

    static func tensorScalar(_ op: BinaryOperator, _ t: Tensor, _ x: Float, scalarOnLeft: Bool) throws -> Value {
        guard let kernel = kernelOp(op) else {
            throw OperatorError(message: "`@` needs two tensors", notes: ["help: use `*` to scale a tensor by a number"])
        }
        return .tensor(t.scalarOp(kernel, x, scalarOnLeft: scalarOnLeft))
    }

    static func equal(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.list(x), .list(y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case let (.record(x), .record(y)):
            return x.keys == y.keys && zip(x.values, y.values).allSatisfy { equal($0, $1) }
        case let (.tensor(x, _), .tensor(y, _)): return x == y
        case let (.function(x), .function(y)): return x === y
        case let (.builtin(x), .builtin(y)): return x.name == y.name
        case let (.model(x), .model(y)): return x === y
        case let (.tree(x), .tree(y)): return x.order == y.order && x.tokens == y.tokens && x.branch == y.branch
        default:
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }

    static func unary(_ op: UnaryOperator, _ value: Value) throws -> Value {
        switch (op, value) {
        case let (.negate, .int(i)):
            guard i != Int.min else { throw OperatorError(message: "integer overflow in `-(\(i))`") }
            return .int(-i)
        case let (.negate, .float(f)): return .float(-f)
        case let (.negate, .tensor(t, _)): return .tensor(t.map(.neg))
        case let (.negate, .tracked(t)): return TrackedOperators.negate(t)
        case let (.not, .bool(b)): return .bool(!b)
        default:
            throw OperatorError(message: "`\(op.rawValue)` is not defined for \(value.typeName)",
                                notes: op == .not ? ["help: `not` takes a bool; compare first, e.g. `not (n == 0)`"] : [])
        }
    }
}
