import AttnKernels

// Linear and factorised attention (tssa.md, combiner.md, baselines.md): `tssa`, `tost`,
// `linformer`, `combiner`. Weights are seeded when not given, or passed as tensors so results
// can be compared with the authors' modules on the same weights.
enum LinearBuiltins {
    static func stats(tokens: Double?, flops: Double, ms: Double) -> Record {
        var r = Record()
        if let tokens { r["tokens"] = .float(tokens) }
        r["flops"] = .float(flops)
        r["ms"] = .float(ms)
        return r
    }

    static let all: [Builtin] = [
        Builtin("tssa",
                [.required("x", .tensor), .optional("heads", .int, .int(8)), .optional("w", .optional(.tensor)),
                 .optional("out", .optional(.tensor)), .optional("bias", .optional(.tensor)), .optional("temp", .optional(.tensor)),
                 .optional("seed", .optional(.int))],
                summary: "Token Statistics Self-Attention (ToST): linear-time attention from per-head token statistics.",
                doc: """
                Exactly tssa.md: w = x W, columns normalised over tokens, Pi = softmax over heads of
                the per-head energy times temp, att = 1 / (1 + Pi-weighted second moments),
                y = -(w Pi) att, out = y Wo + bias. W, Wo: [D, D]; bias: [D]; temp: [heads].
                Missing weights are seeded (Gaussian / sqrt(D), bias 0, temp 1). Time and memory O(N D).
                """) { args, interp in
            let x = try args.tensor("x")
            guard x.rank == 2 else { throw BuiltinError(message: "`tssa` needs tokens as a matrix [N, D], got shape \(formatShape(x.shape))") }
            let heads = try args.int("heads"), dim = x.shape[1]
            guard heads >= 1, dim % heads == 0 else { throw BuiltinError(message: "`heads`=\(heads) must be at least 1 and divide D = \(dim)") }
            var weights = try TokenStatistics.Weights.seeded(dim: dim, heads: heads, seed: try args.seed(interp))
            if let w = try args.optionalTensor("w") { weights.w = w }
            if let out = try args.optionalTensor("out") { weights.out = out }
            if let bias = try args.optionalTensor("bias") { weights.bias = bias }
            if let temp = try args.optionalTensor("temp") { weights.temp = temp }
            let ((out, flops), ms) = try TimingBuiltins.measure { try TokenStatistics.forward(x: x, heads: heads, weights: weights) }
            return .tensor(out, stats: stats(tokens: nil, flops: flops, ms: ms))
        },
        Builtin("tost", [.required("x", .tensor), .optional("layers", .int, .int(2)), .optional("heads", .int, .int(8)), .optional("seed", .optional(.int))],
                summary: "A ToST encoder: pre-norm blocks of TSSA and MLP with residuals; encode(x, attn=\"tssa\").") { args, interp in
            let x = try args.tensor("x")
            guard x.rank == 2 else { throw BuiltinError(message: "`tost` needs tokens as a matrix [N, D], got shape \(formatShape(x.shape))") }
            let encoder = try TransformerEncoder(inputDim: x.shape[1], dim: x.shape[1], layers: try args.int("layers"), heads: try args.int("heads"),
                                                 seed: try args.seed(interp), mixer: .tssa)
            return .tensor(try encoder.forward(x))
        },
        Builtin("linformer",
                [.required("q", .tensor), .required("k", .tensor), .required("v", .tensor), .optional("proj", .size, .int(256)),
                 .optional("e", .optional(.tensor)), .optional("f", .optional(.tensor)), .optional("seed", .optional(.int))],
                summary: "Linformer: keys and values projected along the sequence to `proj` rows, then exact attention.",
                doc: """
                out = softmax(scale q (E k)^T) (F v) with E, F: [proj, N], seeded Gaussian / sqrt(proj)
                unless given. `proj` may be a rule of N. .tokens = proj.
                """) { args, interp in
            let k = try args.tensor("k")
            guard k.rank == 2 else { throw BuiltinError(message: "`linformer` needs keys as a matrix [N, d], got shape \(formatShape(k.shape))") }
            let n = k.shape[0]
            var (e, f) = (try args.optionalTensor("e"), try args.optionalTensor("f"))
            if e == nil || f == nil {
                let proj = try interp.resolveSize(args["proj"], n: n, name: "proj")
                let seeded = try Linformer.projections(proj: proj, n: n, seed: try args.seed(interp))
                e = e ?? seeded.0
                f = f ?? seeded.1
            }
            guard let e, let f else { return .none }
            let ((out, attentionStats), ms) = try TimingBuiltins.measure {
                try Linformer.forward(q: try args.tensor("q"), k: k, v: try args.tensor("v"), e: e, f: f)
            }
            return .tensor(out, stats: stats(tokens: attentionStats.tokens, flops: attentionStats.flops, ms: ms))
        },
        Builtin("combiner",
                [.required("q", .tensor), .required("k", .tensor), .required("v", .tensor), .optional("variant", .string, .string("fixed")),
                 .optional("seg", .optional(.size)), .optional("pool", .string, .string("max")), .optional("causal", .bool, .bool(false))],
                summary: "Combiner: each position attends directly to its segment and, through one summary each, to every other.",
                doc: """
                One joint softmax over direct keys and region summaries (full reach at sub-quadratic cost):
                "fixed": the query's segment (length seg, default ceil(sqrt N)) plus every segment's
                summary (pooled key; value = the segment's attention output under the pooled query);
                "axial": its row plus every other row's summary (attention-weighted keys);
                "logsparse": itself plus the aligned power-of-two blocks tiling the rest (O(log N));
                "mixture": all three supports together. causal=true keeps j <= i and earlier regions.
                pool="max" or "mean". .tokens = direct keys + summaries per query.
                """) { args, interp in
            let variant = try args.choice("variant", Combiner.Variant.self, Combiner.Variant.allCases.map(\.rawValue))
            let k = try args.tensor("k")
            let n = k.rank == 2 ? k.shape[0] : 0
            let seg = try args.size("seg", n: n, interp)
            let pool = try args.choice("pool", CombinerFixed.Pool.self, ["max", "mean"])
            let (result, ms) = try TimingBuiltins.measure {
                try Combiner.forward(q: try args.tensor("q"), k: k, v: try args.tensor("v"), variant: variant, seg: seg, pool: pool,
                                     causal: try args.bool("causal"))
            }
            return .tensor(result.output, stats: stats(tokens: result.tokens, flops: result.flops, ms: ms))
        },
    ]
}
