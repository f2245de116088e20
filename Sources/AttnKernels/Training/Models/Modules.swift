import Foundation

// The building blocks as models of their own (`linear(64, 32)`, `mlp([2, 64, 1])`...): each
// maps a tensor to a tensor and shows its parameters; the task models below are built of them.

public struct LinearModule: Architecture {
    let layer: LinearLayer
    public var kind: String { "linear" }
    public var summary: String { "linear(\(layer.inputs), \(layer.outputs))" }

    public static func make(inputs: Int, outputs: Int, seed: UInt64) throws -> Model {
        var store = ParameterStore(), rng = Xoshiro256(seed: seed)
        let layer = try LinearLayer("linear", inputs, outputs, &store, &rng)
        return Model(LinearModule(layer: layer), parameters: store)
    }

    public func apply(_ input: Tensor, _ p: BoundParameters) throws -> Tape.Variable {
        try layer(p.tape.leaf(try asMatrix(input)), p)
    }
}

public struct MLPModule: Architecture {
    let mlp: MLPLayer
    let sizes: [Int]
    public var kind: String { "mlp" }
    public var summary: String { "mlp(\(sizes.map(String.init).joined(separator: " -> ")), gelu)" }

    public static func make(sizes: [Int], seed: UInt64) throws -> Model {
        var store = ParameterStore(), rng = Xoshiro256(seed: seed)
        let mlp = try MLPLayer("mlp", sizes, &store, &rng)
        return Model(MLPModule(mlp: mlp, sizes: sizes), parameters: store)
    }

    public func apply(_ input: Tensor, _ p: BoundParameters) throws -> Tape.Variable {
        try mlp(p.tape.leaf(try asMatrix(input)), p)
    }
}

public struct LayerNormModule: Architecture {
    let norm: LayerNormLayer
    let dim: Int
    public var kind: String { "layernorm" }
    public var summary: String { "layernorm(\(dim))" }

    public static func make(dim: Int) throws -> Model {
        guard dim >= 1 else { throw KernelError.invalidArgument("layernorm: dim must be at least 1") }
        var store = ParameterStore()
        return Model(LayerNormModule(norm: try LayerNormLayer("layernorm", dim, &store), dim: dim), parameters: store)
    }

    public func apply(_ input: Tensor, _ p: BoundParameters) throws -> Tape.Variable {
        let x = try asMatrix(input)
        guard x.shape[1] == dim else { throw KernelError.shapeMismatch("layernorm(\(dim)) needs rows of \(dim)", x.shape, [x.shape[0], dim]) }
        return try norm(p.tape.leaf(x), p)
    }
}

public struct EmbeddingModule: Architecture {
    let embedding: EmbeddingLayer
    let dim: Int
    public var kind: String { "embed" }
    public var summary: String { "embed(\(embedding.count), \(dim))" }

    public static func make(count: Int, dim: Int, seed: UInt64) throws -> Model {
        var store = ParameterStore(), rng = Xoshiro256(seed: seed)
        return Model(EmbeddingModule(embedding: try EmbeddingLayer("embed", count, dim, &store, &rng), dim: dim), parameters: store)
    }

    /// The input holds token ids (whole numbers).
    public func apply(_ input: Tensor, _ p: BoundParameters) throws -> Tape.Variable {
        let ids = try input.data.map { value -> Int in
            guard value.rounded() == value, abs(value) < 1e9 else { throw KernelError.invalidArgument("embed takes whole token ids, got \(value)") }
            return Int(value)
        }
        return try embedding(ids, p)
    }
}

/// A vector [n] is one row [1, n]; matrices pass through.
func asMatrix(_ t: Tensor) throws -> Tensor {
    switch t.rank {
    case 1: return try t.reshaped([1, t.shape[0]])
    case 2: return t
    default: throw KernelError.invalidShape("modules take a vector or a matrix [rows, features], got \(formatShape(t.shape))")
    }
}
