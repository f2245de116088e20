import AttnKernels
import Foundation

// The tree attention family (tca.md, treeformer.md, baselines.md): `tree`, `tca`,
// `cross_leaves`, `perceiver`, `treeformer`, and `encode`, the encoder that turns raw tokens into
// the context a tree is built on. Size parameters take a number or a function of N.
enum TreeBuiltins {
    static func tree(_ args: Arguments) throws -> TensorTree {
        guard case let .tree(t) = args["t"] else { throw BuiltinError(message: "`t` must be a tree made by `tree(ctx)`") }
        return t
    }

    static let all: [Builtin] = [
        Builtin("tree",
                [.required("ctx", .tensor), .optional("branch", .int, .int(2)), .optional("leaf", .optional(.size)),
                 .optional("order", .string, .string("kd")), .optional("by", .optional(.tensor)), .optional("agg", .string, .string("mean"))],
                summary: "Build the balanced tensorised tree of Tree Cross Attention over context tokens [N, d].",
                doc: """
                Depth k = floor(log_b(N - 1)), leaf size P = ceil(N / b^k); `leaf=` (a number or a rule
                such as sqrt) picks the smallest depth whose leaves hold at most that many tokens.
                order="kd" sorts tokens by recursive median splits on the widest coordinate of `by`
                (default the tokens); "given" keeps their order. Padding repeats the first tokens
                (+1e-5) and is masked. Node summaries: agg="mean" (masked mean) or "max".
                Members: n, d, branch, depth, leaf, leaves, nodes, ms (build time), order, agg.
                """) { args, interp in
            let ctx = try args.tensor("ctx")
            guard ctx.rank == 2 else { throw BuiltinError(message: "`tree` needs context tokens as a matrix [N, d], got shape \(formatShape(ctx.shape))") }
            let t = try TensorTree(context: ctx, branch: try args.int("branch"), leaf: try args.size("leaf", n: ctx.shape[0], interp),
                                   ordering: try args.choice("order", TensorTree.Ordering.self, ["kd", "given"]),
                                   by: try args.optionalTensor("by"),
                                   aggregation: try args.choice("agg", TensorTree.Aggregation.self, ["mean", "max"]))
            return .tree(t)
        },
        Builtin("tca",
                [.required("q", .tensor), .required("t", .tree), .optional("depth", .optional(.size)),
                 .optional("beam", .int, .int(1)), .optional("heads", .int, .int(1))],
                summary: "Tree Cross Attention: each query descends the tree and attends to O(log N) tokens.",
                doc: """
                Greedy descent (beam=1, the paper) scoring the b children at each level with softmax
                attention weights; S = the unexpanded siblings along the path plus the chosen leaf's
                tokens, |S| = (b-1) k + P. depth=D (a number or a rule of N such as log, clamped to k)
                stops after D levels: S ends with the summary of the node reached. beam=w keeps the w
                best nodes per level; w >= the number of leaves is exact cross attention.
                Result stats: .tokens (mean |S|), .flops, .ms, .leaves (node each query ended in).
                """) { args, interp in
            let t = try tree(args)
            let depth = try args.size("depth", n: t.count, interp)
            let (result, ms) = try TimingBuiltins.measure {
                try TreeCrossAttention.forward(q: try args.tensor("q"), tree: t, depth: depth, beam: try args.int("beam"), heads: try args.int("heads"))
            }
            let stats = Record([("tokens", .float(result.tokens)), ("flops", .float(result.flops)), ("ms", .float(ms)),
                                ("leaves", .list(result.leaves.map { .int($0) }))])
            return .tensor(result.output, stats: stats)
        },
        Builtin("cross_leaves", [.required("q", .tensor), .required("t", .tree), .optional("heads", .int, .int(1))],
                summary: "Exact cross attention over the tree's leaf tokens (padding excluded): the paper's L_CA path.") { args, _ in
            let t = try tree(args)
            let q = try args.tensor("q")
            guard q.rank == 2, q.shape[1] == t.dim else {
                throw KernelError.shapeMismatch("cross_leaves needs queries with the tree's dimension d = \(t.dim)", q.shape, [t.count, t.dim])
            }
            let keep = (0..<t.tokenIsPadding.count).filter { !t.tokenIsPadding[$0] }
            var tokens = try Tensor(zeros: [keep.count, t.dim])
            for (i, position) in keep.enumerated() {
                for c in 0..<t.dim { tokens.data[i * t.dim + c] = t.tokens.data[position * t.dim + c] }
            }
            return try AttentionBuiltins.run(q: q, k: tokens, v: tokens, options: AttentionOptions(heads: try args.int("heads")))
        },
        Builtin("perceiver",
                [.required("q", .tensor), .required("ctx", .tensor), .optional("latents", .any, .int(64)),
                 .optional("layers", .int, .int(1)), .optional("seed", .optional(.int))],
                summary: "Perceiver IO: L latents read the context, self-attend `layers` times, and the queries read the latents.",
                doc: """
                z = attention(lat, ctx, ctx); then `layers` times z = z + attention(z, z, z);
                out = attention(q, z, z). `latents` is a count (or a rule of N, e.g. fn(n) => n / 16)
                for seeded standard-normal latents, or a tensor [L, d] of given latents.
                .tokens = L (what each query attends to).
                """) { args, interp in
            let q = try args.tensor("q"), ctx = try args.tensor("ctx")
            guard ctx.rank == 2 else { throw BuiltinError(message: "`perceiver` needs context tokens as a matrix [N, d]") }
            let layers = try args.int("layers")
            guard (0...64).contains(layers) else { throw BuiltinError(message: "`layers` must be 0 to 64, got \(layers)") }
            var latents: Tensor
            if case let .tensor(given, _) = args["latents"] {
                latents = given
            } else {
                let count = try interp.resolveSize(args["latents"], n: ctx.shape[0], name: "latents")
                guard count >= 1 else { throw BuiltinError(message: "`latents` must be at least 1, got \(count)") }
                var rng = Xoshiro256(seed: try args.seed(interp))
                latents = try Tensor.randn([count, ctx.shape[1]], rng: &rng)
            }
            let ((out, flops), ms) = try TimingBuiltins.measure { () throws -> (Tensor, Double) in
                let (encoded, readStats) = try Attention.forward(q: latents, k: ctx, v: ctx)
                var z = encoded
                var flops = readStats.flops
                for _ in 0..<layers {
                    let (y, s) = try Attention.forward(q: z, k: z, v: z)
                    z = try z.binary(.add, y)
                    flops += s.flops
                }
                let (out, decodeStats) = try Attention.forward(q: q, k: z, v: z)
                return (out, flops + decodeStats.flops)
            }
            return .tensor(out, stats: Record([("tokens", .float(Double(latents.shape[0]))), ("flops", .float(flops)), ("ms", .float(ms))]))
        },
        Builtin("treeformer",
                [.required("q", .tensor), .required("k", .tensor), .required("v", .tensor), .optional("mode", .string, .string("tf")),
                 .optional("depth", .optional(.size)), .optional("leaf", .optional(.size)), .optional("split", .string, .string("pca")),
                 .optional("seed", .optional(.int)), .optional("log_count", .bool, .bool(false))],
                summary: "Treeformer attention: a decision tree routes queries and keys; TF attends within the leaf, TC along the path.",
                doc: """
                mode="tf": each query attends to the keys in its leaf (empty leaf: zero row, counted in .empty).
                mode="tc": each query attends to the mean key/value of every non-empty node on its path.
                mode="tftc": the node means above its leaf plus the leaf's own keys (fine near, coarse far).
                log_count=true (tc, tftc): a node mean's score gains log(count), so it weighs like its keys.
                Depth defaults to the smallest giving leaves of at most `leaf` keys (default 32).
                split="pca" (principal direction, balanced by the median) or "random" (seeded hyperplanes).
                Stats: .tokens (mean attended per query), .empty, .flops, .ms.
                """) { args, interp in
            let k = try args.tensor("k")
            let n = k.rank == 2 ? k.shape[0] : 0
            let depth = try args.size("depth", n: n, interp), leaf = try args.size("leaf", n: n, interp)
            let mode = try args.choice("mode", Treeformer.Mode.self, Treeformer.Mode.allCases.map(\.rawValue))
            let split = try args.choice("split", Treeformer.Split.self, ["pca", "random"])
            let seedValue = try args.seed(interp)
            let (result, ms) = try TimingBuiltins.measure {
                try Treeformer.forward(q: try args.tensor("q"), k: k, v: try args.tensor("v"), mode: mode, depth: depth, leaf: leaf,
                                       split: split, seed: seedValue, logCount: try args.bool("log_count"))
            }
            return .tensor(result.output, stats: Record([("tokens", .float(result.tokens)), ("flops", .float(result.flops)),
                                                         ("empty", .int(result.empty)), ("ms", .float(ms))]))
        },
        Builtin("encode",
                [.required("x", .tensor), .optional("layers", .int, .int(2)), .optional("heads", .int, .int(4)),
                 .optional("dim", .optional(.int)), .optional("attn", .string, .string("dense")), .optional("seed", .optional(.int))],
                summary: "A Transformer encoder (pre-norm, residual, GELU MLP) with seeded weights: ctx = encode(x).",
                doc: """
                Each layer: h = x + Mix(LN(x)); x = h + MLP(LN(h)), MLP width 4 dim. dim=none keeps
                the input width; otherwise a projection maps the input to `dim`. attn="dense": exact
                multi-head attention; "tssa": the ToST block (same as tost); "combiner":
                Combiner-Fixed over the Q, K, V projections (single head).
                """) { args, interp in
            let x = try args.tensor("x")
            guard x.rank == 2 else { throw BuiltinError(message: "`encode` needs tokens as a matrix [N, d], got shape \(formatShape(x.shape))") }
            let mixer = try args.choice("attn", TransformerEncoder.Mixer.self, TransformerEncoder.Mixer.allCases.map(\.rawValue))
            let encoder = try TransformerEncoder(inputDim: x.shape[1], dim: try args.optionalInt("dim") ?? x.shape[1],
                                                 layers: try args.int("layers"), heads: try args.int("heads"), seed: try args.seed(interp),
                                                 mixer: mixer)
            return .tensor(try encoder.forward(x))
        },
    ]
}
