import Foundation

/// An attentive Neural Process for regression tasks (gp): context points (x, y) are embedded by
/// an MLP and a Transformer encoder; each target x is embedded by an MLP and reads the context
/// through one of three retrieval mechanisms, then an MLP head outputs a Gaussian (mean, scale).
///   ca:        cross attention over all context embeddings (the dense baseline);
///   perceiver: Perceiver IO: `latents` learned vectors read the context once, targets read the latents;
///   tca:       ReTreever: Tree Cross Attention over a binary tree of the context (tca.md).
public struct NeuralProcess: Architecture {
    public enum Retrieval: String, Sendable, CaseIterable { case ca, perceiver, tca }

    public let retrieval: Retrieval
    public let dim: Int, heads: Int, latents: Int, leafSize: Int
    /// ReTreever's loss weights: the leaf/CA auxiliary path, REINFORCE, and the entropy bonus.
    public let lambdaCA: Float, lambdaRL: Float, entropy: Float
    let contextEmbedding: MLPLayer, queryEmbedding: MLPLayer
    let encoder: [TransformerBlock]
    let decoder: MLPLayer
    let latentName: String?
    let latentBlock: TransformerBlock?

    public static func make(retrieval: Retrieval, dim: Int, layers: Int, heads: Int, latents: Int, leaf: Int,
                            lambdaCA: Float = 1, lambdaRL: Float = 1, entropy: Float = 0.01, seed: UInt64) throws -> Model {
        guard (1...4096).contains(dim), (0...32).contains(layers), latents >= 1, leaf >= 1 else {
            throw KernelError.invalidArgument("np: dim 1-4096, layers 0-32, latents and leaf at least 1")
        }
        var store = ParameterStore(), rng = Xoshiro256(seed: seed)
        let context = try MLPLayer("context_embed", [2, dim, dim], &store, &rng)
        let query = try MLPLayer("query_embed", [1, dim, dim], &store, &rng)
        let encoder = try (0..<layers).map { try TransformerBlock("encoder.\($0)", dim: dim, heads: heads, &store, &rng) }
        var latentName: String?, latentBlock: TransformerBlock?
        if retrieval == .perceiver {
            latentName = "latents"
            store.add("latents", try Tensor.randn([latents, dim], rng: &rng))
            latentBlock = try TransformerBlock("latent_block", dim: dim, heads: heads, &store, &rng)
        }
        let decoder = try MLPLayer("decoder", [dim, dim, 2], &store, &rng)
        let architecture = NeuralProcess(retrieval: retrieval, dim: dim, heads: heads, latents: latents, leafSize: leaf,
                                         lambdaCA: lambdaCA, lambdaRL: lambdaRL, entropy: entropy,
                                         contextEmbedding: context, queryEmbedding: query, encoder: encoder, decoder: decoder,
                                         latentName: latentName, latentBlock: latentBlock)
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
        let base = "\(kind)(dim=\(dim), layers=\(encoder.count), heads=\(heads)"
        switch retrieval {
        case .ca: return base + ", cross attention)"
        case .perceiver: return base + ", latents=\(latents))"
        case .tca: return base + ", leaf=\(leafSize), lambda_ca=\(lambdaCA), lambda_rl=\(lambdaRL))"
        }
    }

    public func check(_ task: TrainingTask) throws {
        guard task.vocabulary == nil else {
            throw KernelError.invalidArgument("\(kind) models regression tasks (gp); for \(task.name) use transformer(...)")
        }
        if retrieval == .tca {
            let leaves = task.length / leafSize
            guard task.length % leafSize == 0, leaves >= 1, leaves & (leaves - 1) == 0 else {
                throw KernelError.invalidArgument("retreever builds a binary tree: the context size (\(task.length)) must be leaf (\(leafSize)) times a power of two")
            }
        }
    }

    public func pass(_ batch: TaskBatch, _ p: BoundParameters, training: Bool, rng: inout Xoshiro256) throws -> PassResult {
        guard case let .regression(cx, cy, nc, tx, ty, nt, count) = batch else {
            throw KernelError.invalidArgument("\(kind) needs a regression task (gp)")
        }
        let t = p.tape
        var pairs = [Float]()
        for i in 0..<cx.count { pairs += [cx[i], cy[i]] }
        var context = try contextEmbedding(t.leaf(try Tensor(shape: [count * nc, 2], data: pairs)), p)
        for block in encoder { context = try block(context, blocks: count, p) }
        let queries = try queryEmbedding(t.leaf(try Tensor(shape: [count * nt, 1], data: tx)), p)
        let options = AttentionOptions(heads: heads)

        func predict(_ read: Tape.Variable) throws -> (loss: Tape.Variable, perRow: [Float]) {
            try t.gaussianNLL(try decoder(try t.add(queries, read), p), targets: ty)
        }
        switch retrieval {
        case .ca:
            let out = try predict(try t.blockAttention(queries, context, context, blocks: count, options: options))
            return result(out.loss, out.perRow, tokens: Double(nc))
        case .perceiver:
            guard let latentName, let latentBlock else { throw KernelError.invalidArgument("internal: perceiver without latents") }
            let start = try t.tileRows(try p(latentName), times: count)
            var z = try t.add(start, try t.blockAttention(start, context, context, blocks: count, options: options))
            z = try latentBlock(z, blocks: count, p)
            let out = try predict(try t.blockAttention(queries, z, z, blocks: count, options: options))
            return result(out.loss, out.perRow, tokens: Double(latents))
        case .tca:
            let tree = try TreeRetrieval(contextX: cx, contextCount: nc, leafSize: leafSize, count: count)
            let stacked = tree.depth == 0 ? context : try t.stackRows([context, try t.mixRows(context, tree.summaryMix())])
            let plan = tree.plan(queries: t.value(queries), queriesPerFunction: nt, stacked: t.value(stacked), sample: training, rng: &rng)
            let retrieved = try t.mixRows(stacked, plan.retrieved)
            let out = try predict(try t.groupedAttention(queries, retrieved, group: plan.group, valid: plan.valid))
            guard training else { return result(out.loss, out.perRow, tokens: Double(plan.group)) }
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
                let stepQueries = try t.mixRows(queries, plan.decisionQueries)
                let candidates = try t.mixRows(stacked, plan.candidates)
                let rl = try t.policyGradient(stepQueries, candidates, choices: 2, chosen: plan.chosen, advantage: advantage, entropyWeight: entropy)
                loss = try t.add(loss, t.scale(rl, by: lambdaRL))
            }
            return PassResult(loss: loss, metricSum: -Double(out.perRow.reduce(0, +)), metricCount: out.perRow.count, tokensPerQuery: Double(plan.group))
        }
    }

    func result(_ loss: Tape.Variable, _ perRow: [Float], tokens: Double) -> PassResult {
        PassResult(loss: loss, metricSum: -Double(perRow.reduce(0, +)), metricCount: perRow.count, tokensPerQuery: tokens)
    }
}
