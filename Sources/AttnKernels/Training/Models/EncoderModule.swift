import Foundation

/// A stack of pre-norm Transformer blocks as a module: `enc(x)` maps the tokens of one sequence
/// [n, dim] to [n, dim], with any token mixer the task models have (dense attention, Linformer,
/// Treeformer TF/TC with PCA or learned trees, ToST's TSSA). It is the trainable counterpart of
/// `encode(x)`, a ToST encoder with attention="tssa" and a Treeformer block with "tf"/"tc"; its
/// parameters are named as in `transformer` (blocks.i....), so weights move between them.
public struct EncoderModule: Architecture {
    let blocks: [TransformerBlock]
    public let dim: Int, heads: Int
    public let mixer: TransformerBlock.Mixer
    /// The sequence length Linformer's projection and a learned tree's depth were built for.
    public let length: Int?
    let detail: String

    public static func make(dim: Int, layers: Int, heads: Int, mixer: TransformerBlock.Mixer, projected: Int, leaf: Int,
                            split: TransformerBlock.TreeSplit, length: Int?, seed: UInt64) throws -> Model {
        guard (1...32).contains(layers), (1...4096).contains(dim) else {
            throw KernelError.invalidArgument("encoder: layers 1-32 and dim 1-4096, got \(layers) and \(dim)")
        }
        let needsLength = mixer == .linformer || (split == .learned && mixer.treeMode != nil)
        if needsLength && length == nil {
            throw KernelError.invalidArgument("encoder: attention=\"\(mixer.rawValue)\"\(split == .learned ? " with learned trees" : "") needs the sequence length (length=)")
        }
        if let length, !(1...65_536).contains(length) { throw KernelError.invalidArgument("encoder: length must be 1 to 65536, got \(length)") }
        var store = ParameterStore(), rng = Xoshiro256(seed: seed)
        let blocks = try (0..<layers).map {
            try TransformerBlock("blocks.\($0)", dim: dim, heads: heads, mixer: mixer, sequence: length ?? 0, projected: projected, leaf: leaf,
                                 split: split, &store, &rng)
        }
        let detail = TransformerBlock.mixerDescription(mixer, projected: projected, leaf: leaf, split: split)
        return Model(EncoderModule(blocks: blocks, dim: dim, heads: heads, mixer: mixer, length: length, detail: detail), parameters: store)
    }

    public var kind: String { "encoder" }
    public var summary: String {
        "encoder(dim=\(dim), layers=\(blocks.count), heads=\(heads), \(detail)" + (length.map { ", length=\($0)" } ?? "") + ")"
    }

    public func apply(_ input: Tensor, _ p: BoundParameters) throws -> Tape.Variable {
        let x = try asMatrix(input)
        guard x.shape[1] == dim else { throw KernelError.shapeMismatch("this encoder takes tokens of width \(dim)", x.shape, [x.shape[0], dim]) }
        if mixer == .linformer, let length, x.shape[0] != length {
            throw KernelError.invalidArgument("a Linformer encoder takes exactly length=\(length) tokens, got \(x.shape[0])")
        }
        guard x.shape[0] >= 1 else { throw KernelError.invalidArgument("an encoder needs at least one token") }
        var h = p.tape.leaf(x)
        for block in blocks { h = try block(h, blocks: 1, p) }
        return h
    }
}
