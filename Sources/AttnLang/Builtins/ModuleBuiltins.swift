import AttnKernels

// Trainable models as values: building blocks (linear, mlp, layernorm, embed), task models
// (transformer for token tasks; np, retreever and perceiver_io for gp), their weights and
// safetensors files (docs/language.md, "Training").
enum ModuleBuiltins {
    static func model(_ args: Arguments, _ name: String = "model") throws -> Model {
        guard case let .model(m) = args[name] else { throw BuiltinError(message: "`\(name)` must be a model, got \(args[name].typeName)") }
        return m
    }

    static func positive(_ args: Arguments, _ name: String) throws -> Int {
        let n = try args.int(name)
        guard n >= 1 else { throw BuiltinError(message: "`\(name)` must be at least 1, got \(n)") }
        return n
    }

    static let architectureParams: [Param] = [
        .optional("dim", .int, .int(64)), .optional("layers", .int, .int(2)), .optional("heads", .int, .int(4)),
    ]

    static func neuralProcess(_ retrieval: NeuralProcess.Retrieval, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let extra = { (name: String, fallback: Double) throws -> Float in
            args.builtin.params.contains { $0.name == name } ? Float(try args.double(name)) : Float(fallback)
        }
        var task: (any TrainingTask)?
        if case let .task(t) = args["task"] { task = t }
        let model = try NeuralProcess.make(
            retrieval: retrieval, task: task, dim: try positive(args, "dim"), layers: try args.int("layers"), heads: try positive(args, "heads"),
            latents: retrieval == .perceiver ? try positive(args, "latents") : 1, leaf: retrieval == .tca ? try positive(args, "leaf") : 1,
            lambdaCA: try extra("lambda_ca", 1), lambdaRL: try extra("lambda_rl", 1), entropy: try extra("entropy", 0.01),
            aggregation: retrieval == .tca ? try aggregation(args) : .mean,
            treeBackprop: retrieval == .tca ? try args.bool("bptt") : false, seed: try args.seed(interp))
        return .model(model)
    }

    static let taskParam = Param.optional("task", .optional(.task))

    /// `agg=`: "mean" (node summaries are means), "learned" (mean + a learned MLP of it) or
    /// "transformer" (a learned block over each node's children).
    static func aggregation(_ args: Arguments) throws -> NeuralProcess.Aggregation {
        try args.choice("agg", NeuralProcess.Aggregation.self, NeuralProcess.Aggregation.allCases.map(\.rawValue))
    }

    /// `attention=` and `split=` together: only Treeformer blocks have a tree to learn.
    static func mixerAndSplit(_ args: Arguments) throws -> (TransformerBlock.Mixer, TransformerBlock.TreeSplit) {
        let mixer = try args.choice("attention", TransformerBlock.Mixer.self, TransformerBlock.Mixer.allCases.map(\.rawValue))
        let split = try args.choice("split", TransformerBlock.TreeSplit.self, TransformerBlock.TreeSplit.allCases.map(\.rawValue))
        guard split == .pca || mixer.treeMode != nil else {
            throw BuiltinError(message: "split=\"\(split.rawValue)\" is for Treeformer blocks, not attention=\"\(mixer.rawValue)\"",
                               notes: ["help: attention=\"tf\", split=\"learned\""])
        }
        return (mixer, split)
    }

    static let npDoc = """
    Without a task (or with gp): an attentive Neural Process. Context points (x, y) go through an \
    MLP and `layers` pre-norm Transformer blocks; each target x through an MLP; the head outputs a \
    Gaussian (mean, 0.1 + 0.9 softplus(scale)); the metric is the targets' log-likelihood. With a \
    lookup task (copy_task, recall): the context is the task's leading tokens (token + position \
    embeddings), every scored position is a query, and the head classifies. evaluate also \
    reports the context tokens each query read.
    """

    static let all: [Builtin] = [
        Builtin("linear", [.required("inputs", .int), .required("outputs", .int), .optional("seed", .optional(.int))],
                summary: "A linear layer x W + b (W Gaussian / sqrt(inputs), b zero); call it as m(x).") { args, interp in
            .model(try LinearModule.make(inputs: try positive(args, "inputs"), outputs: try positive(args, "outputs"), seed: try args.seed(interp)))
        },
        Builtin("mlp", [.required("sizes", .list), .optional("seed", .optional(.int))],
                summary: "Linear layers of the given sizes with GELU between them, e.g. mlp([2, 64, 1]).") { args, interp in
            guard case let .list(items) = args["sizes"] else { throw BuiltinError(message: "`sizes` must be a list of ints") }
            let sizes = try items.map { item -> Int in
                guard case let .int(n) = item, n >= 1 else { throw BuiltinError(message: "`sizes` must hold ints of at least 1, got \(Format.inline(item))") }
                return n
            }
            return .model(try MLPModule.make(sizes: sizes, seed: try args.seed(interp)))
        },
        Builtin("layernorm", [.required("dim", .int)],
                summary: "Layer normalisation over the last axis with a learned gain (1) and bias (0).") { args, _ in
            .model(try LayerNormModule.make(dim: try positive(args, "dim")))
        },
        Builtin("embed", [.required("count", .int), .required("dim", .int), .optional("seed", .optional(.int))],
                summary: "An embedding table: m(ids) maps a tensor of token ids to rows of width dim.") { args, interp in
            .model(try EmbeddingModule.make(count: try positive(args, "count"), dim: try positive(args, "dim"), seed: try args.seed(interp)))
        },
        Builtin("encoder", [.required("dim", .int), .optional("layers", .int, .int(2)), .optional("heads", .int, .int(4)),
                            .optional("attention", .string, .string("dense")), .optional("k", .int, .int(32)), .optional("leaf", .int, .int(16)),
                            .optional("split", .string, .string("pca")), .optional("length", .optional(.int)), .optional("seed", .optional(.int))],
                summary: "A module of `layers` pre-norm Transformer blocks: enc(x) maps tokens [n, dim] to [n, dim].",
                doc: """
                The blocks of transformer(...) without embeddings or head (h = x + O(Mix(LN(x))), out = \
                h + MLP(LN(h)), MLP width 2 dim), with the same token mixers: attention="dense", \
                "linformer" (k rows; needs length=, the exact token count), "tf" / "tc" / "tftc" (Treeformer; \
                split="learned" needs length= for the tree depth), "tssa" (a ToST encoder). The \
                trainable counterpart of encode(x) (seeded weights, MLP width 4 dim) and tost(x); its \
                parameters are named blocks.i.... as in transformer, so weights move between them.
                """) { args, interp in
            let (mixer, split) = try mixerAndSplit(args)
            return .model(try EncoderModule.make(dim: try positive(args, "dim"), layers: try positive(args, "layers"), heads: try positive(args, "heads"),
                                                 mixer: mixer, projected: try positive(args, "k"), leaf: try positive(args, "leaf"), split: split,
                                                 length: try args.optionalInt("length"), seed: try args.seed(interp)))
        },
        Builtin("transformer", [.optional("task", .optional(.task)), .optional("vocab", .optional(.int)), .optional("classes", .optional(.int)),
                                .optional("length", .optional(.int))] + architectureParams +
                               [.optional("attention", .string, .string("dense")), .optional("k", .int, .int(32)), .optional("leaf", .int, .int(16)),
                                .optional("split", .string, .string("pca")), .optional("log_count", .bool, .bool(false)),
                                .optional("balance", .number, .float(0)), .optional("seed", .optional(.int))],
                summary: "A Transformer encoder for token tasks (copy_task, recall, listops); vocab, classes and length default to the task's.",
                doc: """
                Token and learned position embeddings, `layers` pre-norm blocks (multi-head attention and \
                a GELU MLP of width 2 dim), a final LayerNorm and a linear head on every token (copy, \
                recall) or on the mean token (listops). The token mixer (`attention=`): "dense" (exact \
                multi-head), "linformer" (keys and values projected along the sequence to k rows; the \
                length is then fixed), "tf" / "tc" / "tftc" (Treeformer: a tree with leaves of about `leaf` \
                keys routes whole query and key vectors; TF attends to the keys in the query's leaf, TC to \
                the node means on its path, TF + TC to the node means above the leaf and the leaf's keys; \
                every head attends to the same rows; log_count=true adds log(count) to a node mean's \
                score), "tssa" (ToST: one \
                projection W, per-head temperatures, linear in N). A Treeformer tree is fitted to each sequence's keys by PCA splits (split="pca"), or is a \
                parameter of the block (split="learned": hyperplanes blocks.i.tree.weight and .bias, \
                depth from length and leaf, shared by all sequences), trained with straight-through \
                gradients by fit and fitted to a dense model's attention by fit_trees; balance=w > 0 adds \
                w times a routing balance term to the training loss (per tree node, the squared gap \
                between the mean soft probability of its keys going right and 1/2, weighted by the \
                share of keys reaching the node; only the hyperplanes get its gradient). evaluate's \
                `tokens` is the keys each query read.
                """) { args, interp in
            var task: (any TrainingTask)?
            if case let .task(t) = args["task"] { task = t }
            func size(_ name: String, _ fromTask: Int?) throws -> Int {
                if let n = try args.optionalInt(name) {
                    guard n >= 1 else { throw BuiltinError(message: "`\(name)` must be at least 1, got \(n)") }
                    return n
                }
                guard let fromTask else { throw BuiltinError(message: "`\(name)` is needed when no task is given", notes: ["help: transformer(copy_task(len=16, vocab=8)) takes the sizes from the task"]) }
                return fromTask
            }
            let (mixer, split) = try mixerAndSplit(args)
            let model = try SequenceTransformer.make(
                vocabulary: try size("vocab", task?.vocabulary), classes: try size("classes", task?.classes), dim: try positive(args, "dim"),
                layers: try args.int("layers"), heads: try positive(args, "heads"), maxLength: try size("length", task?.length),
                mixer: mixer, projected: try positive(args, "k"), leaf: try positive(args, "leaf"), split: split,
                logCount: try args.bool("log_count"), balance: Float(try args.double("balance")), seed: try args.seed(interp))
            if let task { try model.architecture.check(task) }
            return .model(model)
        },
        Builtin("np", [taskParam] + architectureParams + [.optional("seed", .optional(.int))],
                summary: "A retrieval model whose queries cross-attend to every context token (the dense baseline; a Neural Process on gp).",
                doc: npDoc) { args, interp in try neuralProcess(.ca, args, interp) },
        Builtin("retreever", [taskParam] + architectureParams + [.optional("leaf", .int, .int(4)), .optional("lambda_ca", .number, .float(1)),
                                                   .optional("lambda_rl", .number, .float(1)), .optional("entropy", .number, .float(0.01)),
                                                   .optional("agg", .string, .string("mean")), .optional("bptt", .bool, .bool(true)),
                                                   .optional("seed", .optional(.int))],
                summary: "ReTreever: a retrieval model whose queries read the context by Tree Cross Attention (log N + leaf tokens).",
                doc: npDoc + """

                The context is ordered by x (gp) or position (tokens) into a binary tree of leaves of \
                `leaf` items (context size = leaf * 2^k); node summaries are means (agg="mean"), the \
                mean plus a learned MLP of it (agg="learned"), or, as in the paper, a learned \
                Transformer block over the node's children, bottom-up (agg="transformer": the deepest \
                nodes read their leaf's items, the others their two children's summaries; the summary \
                is the mean of the block's outputs), shared by all nodes and starting as the \
                identity (its residual output projections are zero, so summaries start as means). \
                bptt=true backpropagates through every level of the tree into the encoder; with \
                bptt=false (the authors' configurations) each level's input is a constant to the \
                gradient, so the block learns only from each level's use of its outputs. Training loss: the \
                TCA path's loss + lambda_ca * the full cross-attention path's loss + lambda_rl * \
                REINFORCE (reward: minus each query's loss, centred by the batch mean; entropy bonus \
                `entropy`). Descents are sampled while training and greedy in evaluate.
                """) { args, interp in try neuralProcess(.tca, args, interp) },
        Builtin("perceiver_io", [taskParam] + architectureParams + [.optional("latents", .int, .int(16)), .optional("seed", .optional(.int))],
                summary: "Perceiver IO as a retrieval model: `latents` learned vectors read the context, queries read the latents.",
                doc: npDoc) { args, interp in try neuralProcess(.perceiver, args, interp) },
        Builtin("params", [.required("model", .model)],
                summary: "The model's weights as a record {name: tensor}, in creation order (copies).") { args, _ in
            let m = try model(args)
            return .record(Record(m.parameters.names.compactMap { name in m.parameters[name].map { (name, .tensor($0)) } }))
        },
        Builtin("save_weights", [.required("model", .model), .required("path", .string)],
                summary: "Write the model's weights to a .safetensors file (F32; PyTorch reads it with safetensors.torch.load_file).") { args, interp in
            let m = try model(args), path = try args.string("path")
            let tensors = m.parameters.names.compactMap { name in m.parameters[name].map { (name, $0) } }
            try Safetensors.write(tensors, metadata: ["format": "pt", "attn_model": m.architecture.summary], path: FileBuiltins.resolve(path, interp))
            return .string(path)
        },
        Builtin("load_weights", [.required("model", .model), .required("path", .string), .optional("strict", .bool, .bool(true))],
                summary: "Load weights from a .safetensors file into the model; returns the model (strict=false: what was skipped).",
                doc: """
                F32, F64, F16 and BF16 are read. strict=true (the default): nothing changes unless every \
                parameter is present with its shape and the file has no other tensors. strict=false (as \
                PyTorch's load_state_dict): the tensors whose names the model has are loaded, the others \
                are skipped, parameters the file lacks keep their values, and the result is a record \
                {loaded, missing, unexpected} (counts and lists of names); shapes must still match. \
                E.g. a dense model's weights into a Treeformer with learned trees, whose trees the file lacks.
                """) { args, interp in
            let m = try model(args), path = try args.string("path"), strict = try args.bool("strict")
            do {
                let outcome = try m.load(try Safetensors.read(path: FileBuiltins.resolve(path, interp)), strict: strict)
                if strict { return .model(m) }
                return .record(Record([("loaded", .int(outcome.loaded)), ("missing", .list(outcome.missing.map { .string($0) })),
                                       ("unexpected", .list(outcome.unexpected.map { .string($0) }))]))
            } catch let e as KernelError {
                throw BuiltinError(message: "load_weights(`\(path)`): \(e.description)", notes: ["help: params(m) lists the names and shapes the model expects"])
            }
        },
    ]
}
