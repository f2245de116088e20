import Foundation

/// One batch of a synthetic task. Sequence tasks stack `count` sequences of `length` tokens;
/// regression tasks stack `count` functions, each with its context and target points.
public enum TaskBatch: Sendable {
    /// targets: one class per token (-1 where the task does not score) when `perToken`, else one per sequence.
    case sequences(tokens: [Int], length: Int, count: Int, targets: [Int], perToken: Bool)
    /// context: (x, y) pairs; targets: x and y.
    case regression(contextX: [Float], contextY: [Float], contextCount: Int, targetX: [Float], targetY: [Float], targetCount: Int, count: Int)

    public var count: Int {
        switch self {
        case let .sequences(_, _, count, _, _), let .regression(_, _, _, _, _, _, count): return count
        }
    }
}

extension TaskBatch {
    /// The batch as named tensors, one row per example: tokens and targets (every position), or
    /// context_x, context_y, target_x and target_y.
    public func tensors() throws -> [(String, Tensor)] {
        let rows = count
        func matrix(_ values: [Float]) throws -> Tensor {
            try Tensor(shape: [rows, rows == 0 ? 0 : values.count / rows], data: values)
        }
        switch self {
        case let .sequences(tokens, _, _, targets, _):
            return [("tokens", try matrix(tokens.map(Float.init))), ("targets", try matrix(targets.map(Float.init)))]
        case let .regression(cx, cy, _, tx, ty, _, _):
            return [("context_x", try matrix(cx)), ("context_y", try matrix(cy)), ("target_x", try matrix(tx)), ("target_y", try matrix(ty))]
        }
    }
}

/// A seeded generator of batches, and what a model for it must produce.
public protocol TrainingTask: Sendable {
    var name: String { get }
    /// A one-line description with its sizes.
    var summary: String { get }
    /// Vocabulary and classes for sequence tasks (nil for regression).
    var vocabulary: Int? { get }
    var classes: Int? { get }
    /// Tokens per sequence, or context points per function.
    var length: Int { get }
    /// For token tasks a retrieval model can answer: how many leading tokens form the context
    /// (the scored positions are the queries); nil when the task is not a lookup (listops).
    var lookupContext: Int? { get }
    /// The metric evaluate() reports: "accuracy" or "log_likelihood".
    var metric: String { get }
    func batch(size: Int, rng: inout Xoshiro256) throws -> TaskBatch
}

extension TrainingTask {
    /// Tokens (or points) one batch may hold: the batch is generated as plain arrays before any
    /// tensor exists, so this bound, not the tensor memory limit, keeps a typo from exhausting memory.
    public static var maxBatchTokens: Int { 1 << 25 }

    /// A batch after checking that its size is sensible.
    public func checkedBatch(size: Int, rng: inout Xoshiro256) throws -> TaskBatch {
        let perExample = vocabulary == nil ? length * 2 + 1 : length
        guard size >= 1, size <= Self.maxBatchTokens / max(1, perExample) else {
            throw KernelError.invalidArgument("\(name): a batch of \(size) examples of \(perExample) tokens is too large (at most \(Self.maxBatchTokens) tokens per batch)")
        }
        return try batch(size: size, rng: &rng)
    }
}
