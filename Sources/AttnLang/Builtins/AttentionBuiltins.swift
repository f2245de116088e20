import AttnKernels
import Foundation

// Exact attention operators. Results carry statistics: tokens (keys per query, mean), flops,
// and ms (wall time of the kernel).
enum AttentionBuiltins {
    static func statsRecord(_ stats: AttentionStats, ms: Double) -> Record {
        Record([("tokens", .float(stats.tokens)), ("flops", .float(stats.flops)), ("ms", .float(ms))])
    }

    static func run(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions) throws -> Value {
        let ((out, stats), ms) = try TimingBuiltins.measure { try Attention.forward(q: q, k: k, v: v, options: options) }
        return .tensor(out, stats: statsRecord(stats, ms: ms))
    }

    static let all: [Builtin] = [
        Builtin("attention",
                [.required("q", .tensor), .required("k", .tensor), .required("v", .tensor),
                 .optional("causal", .bool, .bool(false)), .optional("heads", .int, .int(1)), .optional("scale", .optional(.number))],
                summary: "Exact softmax attention softmax(scale * q k^T) v, streamed in tiles (O(N) memory).",
                doc: """
                q: [M, d], k: [N, d], v: [N, dv]. scale defaults to 1/sqrt(d / heads).
                causal=true masks keys after each query (needs M == N), as PyTorch's is_causal.
                heads=h splits the last axis into h heads, attends per head, and concatenates.
                The result carries .tokens (keys per query, mean), .flops (4 M N d) and .ms.
                """) { args, _ in
            let scale = try args.optionalDouble("scale").map(Float.init)
            let options = AttentionOptions(causal: try args.bool("causal"), heads: try args.int("heads"), scale: scale)
            return try run(q: try args.tensor("q"), k: try args.tensor("k"), v: try args.tensor("v"), options: options)
        },
        Builtin("cross", [.required("q", .tensor), .required("ctx", .tensor), .optional("heads", .int, .int(1))],
                summary: "Cross attention of queries over context tokens: attention(q, ctx, ctx).") { args, _ in
            let ctx = try args.tensor("ctx")
            return try run(q: try args.tensor("q"), k: ctx, v: ctx, options: AttentionOptions(heads: try args.int("heads")))
        },
        Builtin("weights", [.required("q", .tensor), .required("k", .tensor), .optional("causal", .bool, .bool(false)), .optional("scale", .optional(.number))],
                summary: "The attention matrix softmax(scale * q k^T) [M, N], for looking at (heatmap) at small sizes.",
                doc: "Row i is query i's distribution over keys. The operators never build this matrix; this does, so its M x N floats count against the memory limit.") { args, _ in
            .tensor(try Attention.weights(q: try args.tensor("q"), k: try args.tensor("k"), causal: try args.bool("causal"),
                                          scale: try args.optionalDouble("scale").map(Float.init)))
        },
    ]
}
