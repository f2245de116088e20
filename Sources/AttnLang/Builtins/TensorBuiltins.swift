import AttnKernels

// Creating tensors and changing their shape.
enum TensorBuiltins {
    static let all: [Builtin] = [
        Builtin("randn", [.rest("shape", .any), .optional("seed", .optional(.int))],
                summary: "Standard normal samples of the given shape, e.g. randn(4096, 64).",
                doc: "Uses the global generator (see `seed`), or a fresh one seeded with `seed=`.") { args, interp in
            let shape = try Shapes.from(args.variadic, builtin: "randn")
            return .tensor(try interp.withRandom(seed: try args.optionalInt("seed")) { try Tensor.randn(shape, rng: &$0) })
        },
        Builtin("rand", [.rest("shape", .any), .optional("seed", .optional(.int))],
                summary: "Uniform samples in [0, 1) of the given shape.") { args, interp in
            let shape = try Shapes.from(args.variadic, builtin: "rand")
            return .tensor(try interp.withRandom(seed: try args.optionalInt("seed")) { try Tensor.rand(shape, rng: &$0) })
        },
        Builtin("zeros", [.rest("shape", .any)], summary: "A tensor of zeros, e.g. zeros(16, 64).") { args, _ in
            .tensor(try Tensor(zeros: try Shapes.from(args.variadic, builtin: "zeros")))
        },
        Builtin("ones", [.rest("shape", .any)], summary: "A tensor of ones.") { args, _ in
            .tensor(try Tensor(shape: try Shapes.from(args.variadic, builtin: "ones"), repeating: 1))
        },
        Builtin("full", [.required("shape", .list), .required("value", .number)], summary: "A tensor filled with `value`.") { args, _ in
            .tensor(try Tensor(shape: try Shapes.from([args["shape"]], builtin: "full"), repeating: Float(try args.double("value"))))
        },
        Builtin("arange", [.required("start", .number), .optional("stop", .optional(.number)), .optional("step", .number, .int(1))],
                summary: "A 1-D tensor start, start+step, ... below stop; arange(n) is 0..n-1.") { args, _ in
            let first = try args.double("start")
            let explicitStop = try args.optionalDouble("stop")
            let start = explicitStop == nil ? 0 : first
            let stop = explicitStop ?? first
            let step = try args.double("step")
            guard step != 0, step.isFinite, start.isFinite, stop.isFinite else {
                throw BuiltinError(message: "`arange` needs finite bounds and a non-zero step")
            }
            let countDouble = ((stop - start) / step).rounded(.up)
            guard countDouble < 9e15 else { throw KernelError.memoryLimit(requested: Int.max, limit: MemoryLimit.bytes) }
            let count = countDouble > 0 ? Int(countDouble) : 0
            var t = try Tensor(zeros: [count])
            for i in 0..<count { t.data[i] = Float(start + Double(i) * step) }
            return .tensor(t)
        },
        Builtin("tensor", [.required("values", .any)],
                summary: "A tensor from a (nested) list of numbers: tensor([[1, 2], [3, 4]]).") { args, _ in
            .tensor(try fromNested(args["values"]))
        },
        Builtin("tolist", [.required("x", .tensor)], summary: "The elements of a tensor as (nested) lists of floats.") { args, _ in
            let t = try args.tensor("x")
            func build(_ axis: Int, _ offset: Int) -> Value {
                let stride = t.strides[axis]
                if axis == t.rank - 1 { return .list((0..<t.shape[axis]).map { .float(Double(t.data[offset + $0])) }) }
                return .list((0..<t.shape[axis]).map { build(axis + 1, offset + $0 * stride) })
            }
            return build(0, 0)
        },
        Builtin("take", [.required("x", .tensor), .required("indices", .tensorOrList)],
                summary: "Rows of x at the given indices (a list or tensor of integers; negative counts from the end).") { args, _ in
            let x = try args.tensor("x")
            let raw: [Double]
            switch args["indices"] {
            case let .tensor(t, _): raw = t.data.map(Double.init)
            case let .list(items): raw = try items.map { item in
                guard let v = item.number else { throw BuiltinError(message: "`take` needs integer indices, found \(item.typeName)") }
                return v
            }
            default: raw = []
            }
            let rows = x.shape[0], width = x.count / max(rows, 1)
            let indices = try raw.map { v -> Int in
                guard v.rounded() == v, abs(v) < 9e15 else { throw BuiltinError(message: "`take` needs integer indices, got \(Format.float(v))") }
                let i = Int(v), resolved = i < 0 ? i + rows : i
                guard resolved >= 0 && resolved < rows else { throw BuiltinError(message: "index \(i) is out of range for \(rows) rows") }
                return resolved
            }
            var out = try Tensor(zeros: [indices.count] + Array(x.shape.dropFirst()))
            for (r, i) in indices.enumerated() { for c in 0..<width { out.data[r * width + c] = x.data[i * width + c] } }
            return .tensor(out)
        },
        Builtin("shape", [.required("x", .tensor)], summary: "The shape of a tensor, as a list of ints.") { args, _ in
            .list(try args.tensor("x").shape.map { .int($0) })
        },
        Builtin("reshape", [.required("x", .tensor), .rest("shape", .any)],
                summary: "Same elements, new shape: reshape(x, 64, 64); one size may be -1.") { args, _ in
            let t = try args.tensor("x")
            var sizes = args.variadic
            if sizes.count == 1, case let .list(items) = sizes[0] { sizes = items }
            var shape = try sizes.map { v -> Int in
                guard case let .int(i) = v, i >= -1 else { throw BuiltinError(message: "`reshape` needs integer sizes (or one -1), got \(Format.inline(v))") }
                return i
            }
            let inferred = shape.indices.filter { shape[$0] == -1 }
            if inferred.count > 1 { throw BuiltinError(message: "`reshape` can infer only one size (-1)") }
            if let axis = inferred.first {
                let known = shape.filter { $0 != -1 }.reduce(1, *)
                guard known > 0, t.count % known == 0 else {
                    throw KernelError.shapeMismatch("reshape cannot infer the size", t.shape, shape)
                }
                shape[axis] = t.count / known
            }
            return .tensor(try t.reshaped(shape))
        },
        Builtin("transpose", [.required("x", .tensor), .optional("axes", .optional(.list))],
                summary: "Permute axes; with no `axes`, reverse them (like NumPy's x.T).") { args, _ in
            .tensor(try args.tensor("x").transposed(axes: try Shapes.axes(args["axes"], name: "axes")))
        },
        Builtin("concat", [.required("tensors", .list), .optional("axis", .int, .int(0))],
                summary: "Join tensors along an axis: concat([a, b], axis=0).") { args, _ in
            guard case let .list(items) = args["tensors"] else { return .none }
            let parts = try items.map { item -> Tensor in
                guard case let .tensor(t, _) = item else { throw BuiltinError(message: "`concat` needs a list of tensors, found a \(item.typeName)") }
                return t
            }
            return .tensor(try Tensor.concat(parts, axis: try args.int("axis")))
        },
    ]

    /// Builds a tensor from nested lists, checking that they are rectangular.
    static func fromNested(_ value: Value) throws -> Tensor {
        var shape = [Int]()
        var probe = value
        while case let .list(items) = probe {
            shape.append(items.count)
            guard let first = items.first else { break }
            probe = first
        }
        guard !shape.isEmpty else { throw BuiltinError(message: "`tensor` needs a list of numbers, got \(value.typeName)") }
        var data = [Float]()
        func collect(_ v: Value, _ depth: Int) throws {
            if depth == shape.count {
                guard let x = v.number else { throw BuiltinError(message: "`tensor` needs numbers, found \(v.typeName)") }
                data.append(Float(x))
                return
            }
            guard case let .list(items) = v, items.count == shape[depth] else {
                throw BuiltinError(message: "`tensor` needs a rectangular nested list (expected \(shape[depth]) items at depth \(depth + 1))")
            }
            for item in items { try collect(item, depth + 1) }
        }
        try collect(value, 0)
        return try Tensor(shape: shape, data: data)
    }
}
