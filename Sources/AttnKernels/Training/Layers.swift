import Foundation

// The building blocks of trainable models. A layer holds the names of its parameters in the
// model's ParameterStore; its forward reads them from the pass's BoundParameters, so the same
// layer code serves training (on a tape) and inference.

/// x W + b, W [in, out] initialised Gaussian / sqrt(in) (as nn.Linear's scale), b zero.
public struct LinearLayer: Sendable {
    public let weight: String, bias: String
    public let inputs: Int, outputs: Int

    init(_ name: String, _ inputs: Int, _ outputs: Int, _ store: inout ParameterStore, _ rng: inout Xoshiro256) throws {
        guard inputs >= 1, outputs >= 1 else { throw KernelError.invalidArgument("\(name): sizes must be at least 1, got \(inputs) -> \(outputs)") }
        (self.weight, self.bias, self.inputs, self.outputs) = (name + ".weight", name + ".bias", inputs, outputs)
        store.add(weight, try Tensor.randn([inputs, outputs], rng: &rng).scalarOp(.mul, 1 / Float(inputs).squareRoot()))
        store.add(bias, try Tensor(zeros: [outputs]))
    }

    func callAsFunction(_ x: Tape.Variable, _ p: BoundParameters) throws -> Tape.Variable {
        guard p.tape.value(x).shape.last == inputs else {
            throw KernelError.shapeMismatch("linear layer expects \(inputs) input features", p.tape.value(x).shape, [inputs])
        }
        return try p.tape.affine(x, try p(weight), try p(bias))
    }
}

public struct LayerNormLayer: Sendable {
    public let gain: String, bias: String

    init(_ name: String, _ dim: Int, _ store: inout ParameterStore) throws {
        (gain, bias) = (name + ".weight", name + ".bias")
        store.add(gain, try Tensor(shape: [dim], repeating: 1))
        store.add(bias, try Tensor(zeros: [dim]))
    }

    func callAsFunction(_ x: Tape.Variable, _ p: BoundParameters) throws -> Tape.Variable {
        try p.tape.layerNorm(x, gain: try p(gain), bias: try p(bias))
    }
}

/// Linear layers with GELU between them (none after the last).
public struct MLPLayer: Sendable {
    public let layers: [LinearLayer]

    init(_ name: String, _ sizes: [Int], _ store: inout ParameterStore, _ rng: inout Xoshiro256) throws {
        guard sizes.count >= 2 else { throw KernelError.invalidArgument("\(name): an MLP needs at least two sizes (in, out)") }
        layers = try (0..<(sizes.count - 1)).map { try LinearLayer("\(name).\($0)", sizes[$0], sizes[$0 + 1], &store, &rng) }
    }

    func callAsFunction(_ x: Tape.Variable, _ p: BoundParameters) throws -> Tape.Variable {
        var h = x
        for (i, layer) in layers.enumerated() {
            h = try layer(h, p)
            if i < layers.count - 1 { h = p.tape.gelu(h) }
        }
        return h
    }
}

/// A table of `count` rows of width `dim`, N(0, 1) initialised (nn.Embedding's default).
public struct EmbeddingLayer: Sendable {
    public let table: String
    public let count: Int

    init(_ name: String, _ count: Int, _ dim: Int, _ store: inout ParameterStore, _ rng: inout Xoshiro256) throws {
        guard count >= 1, dim >= 1 else { throw KernelError.invalidArgument("\(name): sizes must be at least 1") }
        (table, self.count) = (name + ".weight", count)
        store.add(table, try Tensor.randn([count, dim], rng: &rng))
    }

    func callAsFunction(_ indices: [Int], _ p: BoundParameters) throws -> Tape.Variable {
        if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
            throw KernelError.invalidArgument("token \(bad) is outside the embedding's vocabulary 0..<\(count)")
        }
        return try p.tape.mixRows(try p(table), RowMix(gather: indices))
    }
}

/// A pre-norm Transformer block over a batch of equal-length sequences stacked as rows:
/// h = x + O(Mix(LN(x))), out = h + MLP(LN(h)). The token mixer is exact multi-head attention
/// (optionally causal), Linformer's (keys and values projected along the sequence by E [k, n]),
/// Treeformer's TF or TC attention (one tree for all heads; fitted to each sequence's keys, or
/// learned: hyperplanes `name.tree.weight` [2^h - 1, dim] and `name.tree.bias`), or ToST's TSSA
/// (one projection W and per-head temperatures instead of q, k and v).
public struct TransformerBlock: Sendable {
    public enum Mixer: String, Sendable, CaseIterable {
        case dense, linformer, tf, tc, tftc, tssa

        /// The Treeformer mode of a tree mixer (nil for the others).
        public var treeMode: Treeformer.Mode? { Treeformer.Mode(rawValue: rawValue) }
    }
    /// How a Treeformer block's tree is made: fitted per sequence by PCA, or learned.
    public enum TreeSplit: String, Sendable, CaseIterable { case pca, learned }
    let norm1, norm2: LayerNormLayer
    let query, key, value: LinearLayer?
    let output: LinearLayer
    let feedForward: MLPLayer
    let projection: String?
    let tssaWeight: String?, tssaTemperature: String?
    public let heads: Int
    public let mixer: Mixer
    /// Leaf size of the Treeformer tree.
    public let leaf: Int
    /// Treeformer node means' scores gain log(count) (treeformer.md's log-count variant).
    public let logCount: Bool
    /// A learned tree's parameter names and depth (depth from the sequence length and leaf).
    public let tree: (normals: String, offsets: String, depth: Int)?

    /// Zeroes the two projections that write into the residual stream (the mixer's output and
    /// the MLP's last layer), so that the block starts as the identity and learns a correction
    /// (the "zero-init residual" of GPT-2, Fixup and ReZero). Gradients still reach both at once.
    func startAsIdentity(_ store: inout ParameterStore) throws {
        guard let last = feedForward.layers.last else { return }
        for name in [output.weight, output.bias, last.weight, last.bias] {
            if let tensor = store[name] { try store.set(name, try Tensor(zeros: tensor.shape)) }
        }
    }

    init(_ name: String, dim: Int, heads: Int, mixer: Mixer = .dense, sequence: Int = 0, projected: Int = 0, leaf: Int = 16,
         split: TreeSplit = .pca, logCount: Bool = false, _ store: inout ParameterStore, _ rng: inout Xoshiro256) throws {
        guard heads >= 1, dim % heads == 0 else { throw KernelError.invalidArgument("heads=\(heads) must divide dim=\(dim)") }
        norm1 = try LayerNormLayer(name + ".norm1", dim, &store)
        if mixer == .tssa {
            (query, key, value) = (nil, nil, nil)
            (tssaWeight, tssaTemperature) = (name + ".tssa.weight", name + ".tssa.temp")
            store.add(name + ".tssa.weight", try Tensor.randn([dim, dim], rng: &rng).scalarOp(.mul, 1 / Float(dim).squareRoot()))
            store.add(name + ".tssa.temp", try Tensor(shape: [heads], repeating: 1))
        } else {
            query = try LinearLayer(name + ".q", dim, dim, &store, &rng)
            key = try LinearLayer(name + ".k", dim, dim, &store, &rng)
            value = try LinearLayer(name + ".v", dim, dim, &store, &rng)
            (tssaWeight, tssaTemperature) = (nil, nil)
        }
        output = try LinearLayer(name + ".o", dim, dim, &store, &rng)
        norm2 = try LayerNormLayer(name + ".norm2", dim, &store)
        feedForward = try MLPLayer(name + ".mlp", [dim, 2 * dim, dim], &store, &rng)
        (self.heads, self.mixer, self.leaf, self.logCount) = (heads, mixer, leaf, logCount && mixer.treeMode != nil)
        if mixer == .linformer {
            guard sequence >= 1, projected >= 1 else { throw KernelError.invalidArgument("linformer needs the sequence length and k") }
            projection = name + ".E"
            store.add(name + ".E", try Tensor.randn([projected, sequence], rng: &rng).scalarOp(.mul, 1 / Float(sequence).squareRoot()))
        } else {
            projection = nil
        }
        if split == .learned && mixer.treeMode != nil {
            guard sequence >= 1 else { throw KernelError.invalidArgument("a learned tree needs the sequence length") }
            // At least one split: a tree of one leaf would be dense attention.
            let depth = max(1, try Treeformer.depth(keys: sequence, depth: nil, leaf: leaf))
            let internalCount = (1 << depth) - 1
            tree = (name + ".tree.weight", name + ".tree.bias", depth)
            store.add(name + ".tree.weight", try Tensor.randn([internalCount, dim], rng: &rng).scalarOp(.mul, 1 / Float(dim).squareRoot()))
            store.add(name + ".tree.bias", try Tensor(zeros: [internalCount]))
        } else {
            tree = nil
        }
    }

    /// The token mixer as printed in a model's summary ("dense", "linformer k=32",
    /// "treeformer tf leaf=16 learned", "tssa").
    static func mixerDescription(_ mixer: Mixer, projected: Int, leaf: Int, split: TreeSplit, logCount: Bool = false) -> String {
        switch mixer {
        case .linformer: return "linformer k=\(projected)"
        case .tf, .tc, .tftc:
            return "treeformer \(mixer.rawValue) leaf=\(leaf)" + (split == .learned ? " learned" : "") + (logCount ? " log-count" : "")
        default: return mixer.rawValue
        }
    }

    /// x: [blocks * n, dim].
    func callAsFunction(_ x: Tape.Variable, blocks: Int, causal: Bool = false, _ p: BoundParameters) throws -> Tape.Variable {
        var tokens = 0.0
        return try callAsFunction(x, blocks: blocks, causal: causal, p, tokens: &tokens)
    }

    /// The same; `tokens` receives the mean number of keys (or node summaries) each query read.
    /// With a `probe`, a Treeformer block mixes by dense multi-head attention instead and hands
    /// its queries and keys to the probe (bootstrap 1: fitting trees to the dense model). With a
    /// `balance` sink, a learned-tree block hands it its keys' routing balance term.
    func callAsFunction(_ x: Tape.Variable, blocks: Int, causal: Bool = false, _ p: BoundParameters, tokens: inout Double,
                        probe: ((_ queries: Tensor, _ keys: Tensor) throws -> Void)? = nil,
                        balance: ((Tape.Variable) -> Void)? = nil) throws -> Tape.Variable {
        let t = p.tape
        let normed = try norm1(x, p)
        let n = t.value(x).shape[0] / blocks
        let mixed: Tape.Variable
        if let tssaWeight, let tssaTemperature {
            mixed = try t.tokenStatistics(try t.matmul(normed, try p(tssaWeight)), temperature: try p(tssaTemperature), heads: heads, blocks: blocks)
            tokens = 0
        } else if let query, let key, let value {
            let q = try query(normed, p)
            var k = try key(normed, p), v = try value(normed, p)
            switch mixer {
            case .tf where probe != nil, .tc where probe != nil, .tftc where probe != nil:
                try probe?(t.value(q), t.value(k))
                mixed = try t.blockAttention(q, k, v, blocks: blocks, options: AttentionOptions(causal: causal, heads: heads))
                tokens = Double(n)
            case .tf, .tc, .tftc:
                let learned = try tree.map { LearnedTree(normals: try p($0.normals), offsets: try p($0.offsets), depth: $0.depth) }
                if let balance, let learned { balance(try t.routingBalance(k, through: learned)) }
                let result = try t.treeformerAttention(q, k, v, blocks: blocks, mode: mixer.treeMode ?? .tf, leaf: leaf, heads: heads, tree: learned,
                                                       logCount: logCount)
                (mixed, tokens) = (result.output, result.tokensPerQuery)
            default:
                if let projection {
                    // E k per sequence: keys and values shrink from n to `projected` rows.
                    var ks = [Tape.Variable](), vs = [Tape.Variable]()
                    for b in 0..<blocks {
                        let rows = RowMix(gather: Array((b * n)..<((b + 1) * n)))
                        ks.append(try t.matmul(try p(projection), try t.mixRows(k, rows)))
                        vs.append(try t.matmul(try p(projection), try t.mixRows(v, rows)))
                    }
                    k = try t.stackRows(ks)
                    v = try t.stackRows(vs)
                }
                mixed = try t.blockAttention(q, k, v, blocks: blocks, options: AttentionOptions(causal: causal, heads: heads))
                tokens = Double(t.value(k).shape[0] / blocks)
            }
        } else {
            throw KernelError.invalidArgument("internal: a block without a token mixer")
        }
        let h = try t.add(x, try output(mixed, p))
        return try t.add(h, try feedForward(try norm2(h, p), p))
    }
}
