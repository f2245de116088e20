import AttnKernels
import Foundation

// Elementwise functions, reductions and error measures.
enum MathBuiltins {
    static func elementwise(_ name: String, _ op: UnaryOp, _ scalar: @escaping (Double) -> Double, _ summary: String) -> Builtin {
        Builtin(name, [.required("x", .tensorOrNumber)], summary: summary) { args, _ in
            if case let .tensor(t, _) = args["x"] { return .tensor(t.map(op)) }
            return .float(scalar(try args.double("x")))
        }
    }

    static func reduction(_ kind: Reduction, _ summary: String) -> Builtin {
        Builtin(kind.rawValue, [.required("x", .tensorOrList), .optional("axis", .optional(.int))], summary: summary,
                doc: "With no axis, reduces everything to a number; with `axis`, removes that axis.\nOn a list of numbers, reduces the list.") { args, _ in
            switch args["x"] {
            case let .tensor(t, _):
                guard let axis = try args.optionalInt("axis") else { return .float(try t.reduceAll(kind)) }
                guard let reduced = try t.reduce(kind, axis: axis) else { return .float(try t.reduceAll(kind)) }
                return .tensor(reduced)
            case let .list(items):
                if case .int = args["axis"] { throw BuiltinError(message: "`axis` applies to tensors, not lists") }
                return try reduceList(kind, items)
            default: return .none
            }
        }
    }

    static func truthValues(_ value: Value, _ name: String) throws -> [Bool] {
        switch value {
        case let .tensor(t, _): return t.data.map { $0 != 0 }
        case let .list(items):
            return try items.map {
                guard case let .bool(b) = $0 else { throw BuiltinError(message: "`\(name)` of a list needs bools, found \($0.typeName)") }
                return b
            }
        default: return []
        }
    }

    static func reduceList(_ kind: Reduction, _ items: [Value]) throws -> Value {
        guard !items.isEmpty || kind == .sum else { throw BuiltinError(message: "`\(kind.rawValue)` of an empty list") }
        guard items.allSatisfy({ $0.number != nil }) else {
            throw BuiltinError(message: "`\(kind.rawValue)` of a list needs numbers")
        }
        let allInts = items.allSatisfy { if case .int = $0 { return true } else { return false } }
        switch kind {
        case .sum:
            if allInts {
                var total = 0
                for case let .int(i) in items {
                    let (r, o) = total.addingReportingOverflow(i)
                    if o { throw BuiltinError(message: "integer overflow in `sum`") }
                    total = r
                }
                return .int(total)
            }
            return .float(items.reduce(0) { $0 + $1.number! })
        case .mean: return .float(items.reduce(0) { $0 + $1.number! } / Double(items.count))
        case .max, .min:
            var best = items[0]
            for item in items.dropFirst() where kind == .max ? item.number! > best.number! : item.number! < best.number! { best = item }
            return best
        }
    }

    static let all: [Builtin] = [
        reduction(.sum, "Sum of the elements (or along `axis`)."),
        reduction(.mean, "Mean of the elements (or along `axis`)."),
        reduction(.max, "Largest element (or along `axis`)."),
        reduction(.min, "Smallest element (or along `axis`)."),
        elementwise("exp", .exp, Foundation.exp, "e to the power x, elementwise."),
        elementwise("log", .log, Foundation.log, "Natural logarithm, elementwise. As a size rule (`depth=log`) it gets N."),
        elementwise("sqrt", .sqrt, { $0.squareRoot() }, "Square root, elementwise. As a size rule (`leaf=sqrt`) it gets N."),
        elementwise("abs", .abs, { Swift.abs($0) }, "Absolute value, elementwise."),
        elementwise("tanh", .tanh, Foundation.tanh, "Hyperbolic tangent, elementwise."),
        elementwise("sin", .sin, Foundation.sin, "Sine, elementwise."),
        elementwise("cos", .cos, Foundation.cos, "Cosine, elementwise."),
        elementwise("floor", .floor, Foundation.floor, "Largest integer not above x, elementwise (a float)."),
        Builtin("log2", [.required("x", .tensorOrNumber)], summary: "Base-2 logarithm; as a size rule, log2(N).") { args, _ in
            if case let .tensor(t, _) = args["x"] { return .tensor(t.map(.log).scalarOp(.div, Float(M_LN2))) }
            return .float(Foundation.log2(try args.double("x")))
        },
        Builtin("median", [.required("x", .tensorOrList)],
                summary: "The median of a list of numbers or a 1-D tensor (the mean of the middle two for an even count).") { args, _ in
            let values = try PlotBuiltins.numbers(args["x"], "`x`").sorted()
            guard !values.isEmpty else { throw BuiltinError(message: "median of an empty list") }
            let middle = values.count / 2
            return .float(values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2)
        },
        Builtin("sorted", [.required("x", .list), .optional("key", .optional(.string))],
                summary: "The list in increasing order (a new list): numbers or strings, or records ordered by the field `key`.") { args, _ in
            guard case let .list(items) = args["x"] else { return .none }
            let sortKeys = try items.map { item -> Value in
                guard let key = try args.optionalString("key") else { return item }
                guard case let .record(r) = item, let value = r[key] else {
                    throw BuiltinError(message: "`sorted(..., key=\"\(key)\")` needs records with a field `\(key)`, found \(Format.inline(item))")
                }
                return value
            }
            let order: [Int]
            if sortKeys.allSatisfy({ $0.number != nil }) {
                order = sortKeys.indices.sorted { (sortKeys[$0].number ?? 0, $0) < (sortKeys[$1].number ?? 0, $1) }
            } else {
                let strings = try sortKeys.map { key -> String in
                    guard case let .string(s) = key else { throw BuiltinError(message: "`sorted` needs all numbers or all strings, found \(key.typeName)") }
                    return s
                }
                order = strings.indices.sorted { (strings[$0], $0) < (strings[$1], $1) }
            }
            return .list(order.map { items[$0] })
        },
        Builtin("softmax", [.required("x", .tensor), .optional("axis", .int, .int(-1))],
                summary: "Softmax along an axis (default the last), numerically stable.") { args, _ in
            .tensor(try args.tensor("x").softmax(axis: try args.int("axis")))
        },
        Builtin("all", [.required("x", .tensorOrList)], summary: "True when every element is non-zero (tensors) or true (lists): all(a == b).") { args, _ in
            .bool(try truthValues(args["x"], "all").allSatisfy { $0 })
        },
        Builtin("any", [.required("x", .tensorOrList)], summary: "True when some element is non-zero (tensors) or true (lists).") { args, _ in
            .bool(try truthValues(args["x"], "any").contains(true))
        },
        Builtin("relerr", [.required("a", .tensor), .required("b", .tensor)],
                summary: "Relative error ||a - b|| / ||b|| (Frobenius norms); b is the reference.") { args, _ in
            .float(try args.tensor("a").relativeError(to: try args.tensor("b")))
        },
        Builtin("maxerr", [.required("a", .tensor), .required("b", .tensor)],
                summary: "Largest absolute elementwise difference max |a - b|.") { args, _ in
            .float(try args.tensor("a").maxError(to: try args.tensor("b")))
        },
    ]
}
