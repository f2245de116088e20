import AttnKernels

// Reading a shape from a call: `randn(4096, 64)`, `randn([4096, 64])` or `zeros(x.shape)`.
enum Shapes {
    static func from(_ values: [Value], builtin: String) throws -> [Int] {
        var sizes = values
        if values.count == 1, case let .list(items) = values[0] { sizes = items }
        guard !sizes.isEmpty else {
            throw BuiltinError(message: "`\(builtin)` needs a shape, e.g. `\(builtin)(4096, 64)`")
        }
        let shape = try sizes.map { value -> Int in
            switch value {
            case let .int(i): return i
            case let .float(f) where f.rounded() == f && Swift.abs(f) < 9e18: return Int(f)
            default: throw BuiltinError(message: "`\(builtin)` needs integer sizes, got \(Format.inline(value))")
            }
        }
        guard shape.count <= Tensor.maxRank else {
            throw BuiltinError(message: "`\(builtin)`: tensors have rank 1 to \(Tensor.maxRank), got \(shape.count) sizes")
        }
        if let bad = shape.first(where: { $0 < 0 }) {
            throw BuiltinError(message: "`\(builtin)`: sizes cannot be negative, got \(bad)")
        }
        return shape
    }

    static func axes(_ value: Value, name: String) throws -> [Int]? {
        switch value {
        case .none: return nil
        case let .list(items):
            return try items.map {
                guard case let .int(i) = $0 else { throw BuiltinError(message: "`\(name)` must be a list of ints") }
                return i
            }
        default: throw BuiltinError(message: "`\(name)` must be a list of ints")
        }
    }
}
