import Foundation

/// A retrieval model: context items are embedded and encoded by a Transformer; each query is
/// embedded and reads the context through one of three mechanisms, then a head predicts.
///   ca:        cross attention over all context embeddings (the dense baseline);
///   perceiver: Perceiver IO: `latents` learned vectors read the context once, queries read the latents;
///   tca:       ReTreever: Tree Cross Attention over a binary tree of the context (tca.md).
/// Two kinds of task: regression (gp: context points (x, y), queries x, a Gaussian head; an
/// attentive Neural Process) and token lookup (copy_task, recall: the context is the leading
/// tokens with their positions, each scored position is a query, a classification head).
public struct NeuralProcess: Architecture {
    public enum Retrieval: String, Sendable, CaseIterable { case ca, perceiver, tca }

    /// Token embeddings for lookup tasks.
    struct TokenInput: Sendable {
        let tokens: EmbeddingLayer, positions: EmbeddingLayer
        let vocabulary: Int, classes: Int, length: Int, context: Int
    }

    public let retrieval: Retrieval
    public let dim: Int, heads: Int, latents: Int, leafSize: Int
    /// ReTreever's loss weights: the leaf/CA auxiliary path, REINFORCE, and the entropy bonus.
    public let lambdaCA: Float, lambdaRL: Float, entropy: Float
    let tokenInput: TokenInput?
    let contextEmbedding: MLPLayer, queryEmbedding: MLPLayer
    let encoder: [TransformerBlock]
    let decoder: MLPLayer
    let latentName: String?
    let latentBlock: TransformerBlock?
    /// How ReTreever summarises a node: the mean of its points, the mean plus an MLP of it, or
    /// a Transformer block over the node's children (tca.md: the paper's aggregator).
    public enum Aggregation: String, Sendable, CaseIterable { case mean, learned, transformer }
    let aggregation: Aggregation
    /// agg="learned": node summary = mean + MLP(mean).
    let aggregator: MLPLayer?
    /// agg="transformer": a pre-norm block over each node's children (the leaf's points, or the
    /// two child summaries), then their mean; shared by all levels, applied bottom-up, starting
    /// as the identity.
    let childrenBlock: TransformerBlock?
    /// Whether gradients flow through the block's inputs (down the tree into the encoder), or
    /// only into the block from each level's own use, as in the authors' configurations (bptt
    /// false: each level's input is a constant to the tape).
    let treeBackprop: Bool

    /// `task`: a lookup task fixes the vocabulary and lengths; nil (or gp) makes a regression model.
    public static func make(retrieval: Retrieval, task: TrainingTask? = nil, dim: Int, layers: Int, heads: Int, latents: Int, leaf: Int,
                            lambdaCA: Float = 1, lambdaRL: Float = 1, entropy: Float = 0.01, aggregation: Aggregation = .mean,
                            treeBackprop: Bool = true, seed: UInt64) throws -> Model {
        guard (1...4096).contains(dim), (0...32).contains(layers), latents >= 1, leaf >= 1 else {
            throw KernelError.invalidArgument("np: dim 1-4096, layers 0-32, latents and leaf at least 1")
        }
        var store = ParameterStore(), rng = Xoshiro256(seed: seed)
        var tokenInput: TokenInput?
        if let task, task.vocabulary != nil {
            guard let context = task.lookupContext, let vocabulary = task.vocabulary, let classes = task.classes else {
                throw KernelError.invalidArgument("\(task.name) is not a lookup task; retrieval models take gp, copy_task or recall (listops: transformer)")
            }
            tokenInput = TokenInput(tokens: try EmbeddingLayer("tokens", vocabulary, dim, &store, &rng),
                                    positions: try EmbeddingLayer("positions", task.length, dim, &store, &rng),
                                    vocabulary: vocabulary, classes: classes, length: task.length, context: context)
        }
        let inputs = tokenInput == nil ? (2, 1) : (dim, dim)
        let context = try MLPLayer("context_embed", [inputs.0, dim, dim], &store, &rng)
        let query = try MLPLayer("query_embed", [inputs.1, dim, dim], &store, &rng)
        let encoder = try (0..<layers).map { try TransformerBlock("encoder.\($0)", dim: dim, heads: heads, &store, &rng) }
        var latentName: String?, latentBlock: TransformerBlock?
        if retrieval == .perceiver {
            latentName = "latents"
            store.add("latents", try Tensor.randn([latents, dim], rng: &rng))
            latentBlock = try TransformerBlock("latent_block", dim: dim, heads: heads, &store, &rng)
        }
        let decoder = try MLPLayer("decoder", [dim, dim, tokenInput?.classes ?? 2], &store, &rng)
        let aggregator = retrieval == .tca && aggregation == .learned ? try MLPLayer("aggregator", [dim, dim, dim], &store, &rng) : nil
        let childrenBlock = retrieval == .tca && aggregation == .transformer
            ? try TransformerBlock("aggregator", dim: dim, heads: heads, &store, &rng) : nil
        // The aggregator starts as the identity, so every summary starts as its node's mean (as
        // agg="mean") and the block learns corrections: with random residual projections it
        // added noise at every level and did worse than the mean (docs/results.md).
        try childrenBlock?.startAsIdentity(&store)
        let architecture = NeuralProcess(retrieval: retrieval, dim: dim, heads: heads, latents: latents, leafSize: leaf,
                                         lambdaCA: lambdaCA, lambdaRL: lambdaRL, entropy: entropy, tokenInput: tokenInput,
                                         contextEmbedding: context, queryEmbedding: query, encoder: encoder, decoder: decoder,
                                         latentName: latentName, latentBlock: latentBlock,
                                         aggregation: retrieval == .tca ? aggregation : .mean, aggregator: aggregator, childrenBlock: childrenBlock,
                                         treeBackprop: treeBackprop)
        if let task { try architecture.check(task) }
        return Model(architecture, parameters: store)
    }

    public var kind: String {
        switch retrieval {
        case .ca: return "np"
        case .perceiver: return "perceiver_io"
        case .tca: return "retreever"
        }
    }

    public var summary: String {
        var base = "\(kind)(dim=\(dim), layers=\(encoder.count), heads=\(heads)"
        if let tokenInput { base += ", vocab=\(tokenInput.vocabulary), context=\(tokenInput.context)" }
        switch retrieval {
        case .ca: return base + ", cross attention)"
        case .perceiver: return base + ", latents=\(latents))"
        case .tca:
            let bptt = aggregation == .transformer ? ", bptt=\(treeBackprop)" : ""
            return base + ", leaf=\(leafSize), agg=\(aggregation.rawValue)\(bptt), lambda_ca=\(lambdaCA), lambda_rl=\(lambdaRL))"
        }
    }

    public func check(_ task: TrainingTask) throws {
        let contextSize: Int
        if let tokenInput {
            guard task.vocabulary != nil, task.lookupContext == tokenInput.context, task.length == tokenInput.length,
                  (task.vocabulary ?? 0) <= tokenInput.vocabulary else {
                throw KernelError.invalidArgument("this \(kind) was made for a lookup task with \(tokenInput.context) context tokens of \(tokenInput.length); \(task.summary) does not match")
            }
            contextSize = tokenInput.context
        } else {
            guard task.vocabulary == nil else {
                throw KernelError.invalidArgument("this \(kind) models regression (gp); for \(task.name) make it with the task, e.g. \(kind)(\(task.name)(...))")
            }
            contextSize = task.length
        }
        if retrieval == .tca {
            let leaves = contextSize / leafSize
            guard contextSize % leafSize == 0, leaves >= 1, leaves & (leaves - 1) == 0 else {
                throw KernelError.invalidArgument("retreever builds a binary tree: the context size (\(contextSize)) must be leaf (\(leafSize)) times a power of two")
            }
        }
    }

    /// The embedded inputs of one batch and how to score a readout.
    struct Inputs {
        var context: Tape.Variable, queries: Tape.Variable
        /// Per context row, the coordinate the tree orders by (x, or the position).
        var orderKey: [Float]
        var contextCount: Int, queriesPerItem: Int
        var score: (Tape.Variable) throws -> (loss: Tape.Variable, perRow: [Float], metricSum: Double)
    }

    func embed(_ batch: TaskBatch, _ p: BoundParameters) throws -> Inputs {
        let t = p.tape
        switch (batch, tokenInput) {
        case let (.regression(cx, cy, nc, tx, ty, nt, count), nil):
            var pairs = [Float]()
            for i in 0..<cx.count { pairs += [cx[i], cy[i]] }
            let context = try contextEmbedding(t.leaf(try Tensor(shape: [count * nc, 2], data: pairs)), p)
            let queries = try queryEmbedding(t.leaf(try Tensor(shape: [count * nt, 1], data: tx)), p)
            return Inputs(context: context, queries: queries, orderKey: cx, contextCount: nc, queriesPerItem: nt) { readout in
                let out = try t.gaussianNLL(readout, targets: ty)
                return (out.loss, out.perRow, -Double(out.perRow.reduce(0, +)))
            }
        case let (.sequences(ids, length, count, targets, _), input?):
            let nc = input.context
            var contextRows = [Int](), queryRows = [Int](), queryTargets = [Int]()
            for b in 0..<count {
                contextRows += (0..<nc).map { b * length + $0 }
                for i in 0..<length where targets[b * length + i] >= 0 {
                    queryRows.append(b * length + i)
                    queryTargets.append(targets[b * length + i])
                }
            }
            let nt = queryRows.count / max(1, count)
            guard nt * count == queryRows.count, nt >= 1 else { throw KernelError.invalidArgument("lookup tasks need the same number of queries per sequence") }
            func embedded(_ rows: [Int]) throws -> Tape.Variable {
                try t.add(try input.tokens(rows.map { ids[$0] }, p), try input.positions(rows.map { $0 % length }, p))
            }
            let context = try contextEmbedding(try embedded(contextRows), p)
            let queries = try queryEmbedding(try embedded(queryRows), p)
            return Inputs(context: context, queries: queries, orderKey: contextRows.map { Float($0 % length) }, contextCount: nc, queriesPerItem: nt) { readout in
                let out = try t.crossEntropy(readout, targets: queryTargets)
                return (out.loss, out.perRow, Double(out.correct.filter { $0 }.count))
            }
        default:
            throw KernelError.invalidArgument(tokenInput == nil ? "this \(kind) models regression (gp)" : "this \(kind) models a token lookup task")
        }
    }

    public func pass(_ batch: TaskBatch, _ p: BoundParameters, training: Bool, rng: inout Xoshiro256) throws -> PassResult {
        let t = p.tape, count = batch.count
        var inputs = try embed(batch, p)
        for block in encoder { inputs.context = try block(inputs.context, blocks: count, p) }
        let (context, queries) = (inputs.context, inputs.queries)
        let options = AttentionOptions(heads: heads)
        var readout: Tape.Variable?  // the first prediction: the model's own path (TCA, not its CA term)
        func predict(_ read: Tape.Variable) throws -> (loss: Tape.Variable, perRow: [Float], metricSum: Double) {
            let output = try decoder(try t.add(queries, read), p)
            if readout == nil { readout = output }
            return try inputs.score(output)
        }
        func result(_ out: (loss: Tape.Variable, perRow: [Float], metricSum: Double), tokens: Int) -> PassResult {
            PassResult(loss: out.loss, metricSum: out.metricSum, metricCount: out.perRow.count, tokensPerQuery: Double(tokens), outputs: readout)
        }
        switch retrieval {
        case .ca:
            return result(try predict(try t.blockAttention(queries, context, context, blocks: count, options: options)), tokens: inputs.contextCount)
        case .perceiver:
            guard let latentName, let latentBlock else { throw KernelError.invalidArgument("internal: perceiver without latents") }
            let start = try t.tileRows(try p(latentName), times: count)
            var z = try t.add(start, try t.blockAttention(start, context, context, blocks: count, options: options))
            z = try latentBlock(z, blocks: count, p)
            return result(try predict(try t.blockAttention(queries, z, z, blocks: count, options: options)), tokens: latents)
        case .tca:
            let tree = try TreeRetrieval(contextX: inputs.orderKey, contextCount: inputs.contextCount, leafSize: leafSize, count: count)
            var stacked = context
            if tree.depth > 0 {
                var summaries: Tape.Variable
                if let childrenBlock {
                    summaries = try tree.transformerSummaries(context, block: childrenBlock, backpropagating: treeBackprop, p)
                } else {
                    summaries = try t.mixRows(context, tree.summaryMix())
                    if let aggregator { summaries = try t.add(summaries, try aggregator(summaries, p)) }
                }
                stacked = try t.stackRows([context, summaries])
            }
            let plan = tree.plan(queries: t.value(queries), queriesPerFunction: inputs.queriesPerItem, stacked: t.value(stacked), sample: training, rng: &rng)
            let out = try predict(try t.groupedAttention(queries, try t.mixRows(stacked, plan.retrieved), group: plan.group, valid: plan.valid))
            guard training else { return result(out, tokens: plan.group) }
            var loss = out.loss
            if lambdaCA > 0 {
                let dense = try predict(try t.blockAttention(queries, context, context, blocks: count, options: options))
                loss = try t.add(loss, t.scale(dense.loss, by: lambdaCA))
            }
            if lambdaRL > 0 && tree.depth > 0 {
                // Reward: minus each query's loss on the TCA path, centred by the batch mean.
                let rewards = out.perRow.map { -$0 }
                let baseline = rewards.reduce(0, +) / Float(max(1, rewards.count))
                var advantage = [Float]()
                for r in rewards { advantage += [Float](repeating: r - baseline, count: tree.depth) }
                let rl = try t.policyGradient(try t.mixRows(queries, plan.decisionQueries), try t.mixRows(stacked, plan.candidates),
                                              choices: 2, chosen: plan.chosen, advantage: advantage, entropyWeight: entropy)
                loss = try t.add(loss, t.scale(rl, by: lambdaRL))
            }
            var report = result(out, tokens: plan.group)
            report.loss = loss
            return report
        }
    }
}
