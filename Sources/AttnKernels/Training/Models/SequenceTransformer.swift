import Foundation

/// A Transformer encoder over token sequences: token + learned position embeddings, pre-norm
/// blocks, a final LayerNorm, then a linear head on every token (copy, recall) or on the mean
/// of the tokens (classification: ListOps).
public struct SequenceTransformer: Architecture {
    public let vocabulary: Int, classes: Int, dim: Int, heads: Int, maxLength: Int
    public let mixer: TransformerBlock.Mixer
    public let projected: Int, leaf: Int
    public let split: TransformerBlock.TreeSplit
    /// Weight of the learned trees' routing balance term in the training loss (0: none).
    public let balance: Float
    let tokens: EmbeddingLayer, positions: EmbeddingLayer
    let blocks: [TransformerBlock]
    let norm: LayerNormLayer
    let head: LinearLayer

    public static func make(vocabulary: Int, classes: Int, dim: Int, layers: Int, heads: Int, maxLength: Int,
                            mixer: TransformerBlock.Mixer, projected: Int, leaf: Int = 16, split: TransformerBlock.TreeSplit = .pca,
                            logCount: Bool = false, balance: Float = 0, seed: UInt64) throws -> Model {
        // Only node means (TC, TF + TC) have counts to weigh, only learned trees a balance.
        guard !logCount || mixer == .tc || mixer == .tftc else {
            throw KernelError.invalidArgument("log_count weighs Treeformer node means, which attention=\"\(mixer.rawValue)\" does not read; use attention=\"tc\" or \"tftc\"")
        }
        guard balance >= 0, balance.isFinite else { throw KernelError.invalidArgument("balance must be a weight of at least 0, got \(balance)") }
        guard balance == 0 || (split == .learned && mixer.treeMode != nil) else {
            throw KernelError.invalidArgument("balance weighs learned trees' routing; this model has none (use a Treeformer attention with split=\"learned\")")
        }
        guard (0...32).contains(layers), (1...4096).contains(dim), (1...65_536).contains(maxLength) else {
            throw KernelError.invalidArgument("transformer: layers 0-32, dim 1-4096 and length 1-65536, got \(layers), \(dim), \(maxLength)")
        }
        var store = ParameterStore(), rng = Xoshiro256(seed: seed)
        let tokens = try EmbeddingLayer("tokens", vocabulary, dim, &store, &rng)
        let positions = try EmbeddingLayer("positions", maxLength, dim, &store, &rng)
        let blocks = try (0..<layers).map {
            try TransformerBlock("blocks.\($0)", dim: dim, heads: heads, mixer: mixer, sequence: maxLength, projected: projected, leaf: leaf,
                                 split: split, logCount: logCount, &store, &rng)
        }
        let norm = try LayerNormLayer("norm", dim, &store)
        let head = try LinearLayer("head", dim, classes, &store, &rng)
        let architecture = SequenceTransformer(vocabulary: vocabulary, classes: classes, dim: dim, heads: heads, maxLength: maxLength,
                                               mixer: mixer, projected: projected, leaf: leaf, split: split, balance: balance, tokens: tokens, positions: positions,
                                               blocks: blocks, norm: norm, head: head)
        return Model(architecture, parameters: store)
    }

    public var kind: String { "transformer" }
    public var summary: String {
        let attention = TransformerBlock.mixerDescription(mixer, projected: projected, leaf: leaf, split: split, logCount: blocks.first?.logCount ?? false)
        let balanced = balance > 0 ? ", balance=\(balance)" : ""
        return "transformer(vocab=\(vocabulary), classes=\(classes), dim=\(dim), layers=\(blocks.count), heads=\(heads), length=\(maxLength), \(attention)\(balanced))"
    }

    public func check(_ task: TrainingTask) throws {
        guard let taskVocabulary = task.vocabulary, let taskClasses = task.classes else {
            throw KernelError.invalidArgument("\(task.name) is a regression task; a transformer over tokens needs a token task (copy_task, recall, listops); for gp use retreever(...), perceiver_io(...) or np(...)")
        }
        guard taskVocabulary <= vocabulary, taskClasses <= classes else {
            throw KernelError.invalidArgument("\(task.name) needs vocab >= \(taskVocabulary) and classes >= \(taskClasses); the model has \(vocabulary) and \(classes)")
        }
        let fits = mixer == .linformer ? task.length == maxLength : task.length <= maxLength
        guard fits else {
            throw KernelError.invalidArgument("\(task.name) has sequences of \(task.length) tokens; the model takes " +
                                              (mixer == .linformer ? "exactly" : "at most") + " length=\(maxLength)")
        }
    }

    public func pass(_ batch: TaskBatch, _ p: BoundParameters, training: Bool, rng: inout Xoshiro256) throws -> PassResult {
        try run(batch, p, probe: nil, training: training)
    }

    /// The learned trees, one per Treeformer block with `split="learned"`.
    public var learnedTrees: [(normals: String, offsets: String, depth: Int)] { blocks.compactMap(\.tree) }

    /// What every learned-tree block sees when all blocks mix by dense attention (the model
    /// then computes what a dense model with its weights would): its queries and keys, for
    /// fitting the trees to route like dense attention (bootstrap 1).
    public func denseRoutingSamples(_ batch: TaskBatch, _ p: BoundParameters) throws -> [RoutingSample] {
        var samples = [RoutingSample]()
        _ = try run(batch, p) { block, queries, keys in
            if blocks[block].tree != nil { samples.append(RoutingSample(queries: queries, keys: keys, sequences: batch.count, heads: heads)) }
        }
        return samples
    }

    /// While training with `balance` > 0, the loss gains balance times the blocks' routing
    /// balance terms (TapeRoutingBalance.swift); evaluation reports the task loss alone.
    func run(_ batch: TaskBatch, _ p: BoundParameters, probe: ((Int, Tensor, Tensor) throws -> Void)?, training: Bool = false) throws -> PassResult {
        guard case let .sequences(ids, length, count, targets, perToken) = batch else {
            throw KernelError.invalidArgument("a transformer needs a token task")
        }
        let t = p.tape
        let positionIds = (0..<(count * length)).map { $0 % length }
        var x = try t.add(try tokens(ids, p), try positions(positionIds, p))
        var tokensPerQuery = 0.0
        var balanceTerms = [Tape.Variable]()
        let collect: ((Tape.Variable) -> Void)? = training && balance > 0 ? { balanceTerms.append($0) } : nil
        for (index, block) in blocks.enumerated() {
            var attended = 0.0
            x = try block(x, blocks: count, p, tokens: &attended, probe: probe.map { sink in { try sink(index, $0, $1) } }, balance: collect)
            tokensPerQuery += attended / Double(max(1, blocks.count))
        }
        x = try norm(x, p)
        if !perToken {
            // Mean over each sequence's tokens.
            var pool = RowMix()
            for b in 0..<count { pool.appendRow((0..<length).map { (b * length + $0, 1 / Float(length)) }) }
            x = try t.mixRows(x, pool)
        }
        let logits = try head(x, p)
        let loss = try t.crossEntropy(logits, targets: targets)
        var total = loss.loss
        for term in balanceTerms { total = try t.add(total, t.scale(term, by: balance)) }
        let scored = targets.filter { $0 >= 0 }.count
        return PassResult(loss: total, metricSum: Double(loss.correct.filter { $0 }.count), metricCount: scored,
                          tokensPerQuery: tokensPerQuery, outputs: logits)
    }
}
