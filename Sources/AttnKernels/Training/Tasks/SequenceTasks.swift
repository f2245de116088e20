import Foundation

// Token tasks. Token ids: 0 is padding / blank, 1 the separator, symbols from 2.

/// The copy task: `length` random symbols, the separator, then `length` blanks where the model
/// must write the symbols again (scored only there).
public struct CopyTask: TrainingTask {
    public let symbols: Int, copyLength: Int

    public init(length: Int, vocab: Int) throws {
        guard (1...4096).contains(length), (2...1000).contains(vocab) else {
            throw KernelError.invalidArgument("copy_task: len must be 1 to 4096 and vocab 2 to 1000, got \(length) and \(vocab)")
        }
        (copyLength, symbols) = (length, vocab)
    }

    public var name: String { "copy_task" }
    public var summary: String { "copy_task(len=\(copyLength), vocab=\(symbols)): \(length) tokens, copy \(copyLength) after a separator" }
    public var vocabulary: Int? { symbols + 2 }
    public var classes: Int? { symbols + 2 }
    public var length: Int { 2 * copyLength + 1 }
    public var metric: String { "accuracy" }
    public var lookupContext: Int? { copyLength }

    public func batch(size: Int, rng: inout Xoshiro256) throws -> TaskBatch {
        var tokens = [Int](), targets = [Int]()
        for _ in 0..<size {
            let sequence = (0..<copyLength).map { _ in 2 + Int(rng.integer(below: UInt64(symbols))) }
            tokens += sequence + [1] + [Int](repeating: 0, count: copyLength)
            targets += [Int](repeating: -1, count: copyLength + 1) + sequence
        }
        return .sequences(tokens: tokens, length: length, count: size, targets: targets, perToken: true)
    }
}

/// Associative recall: `pairs` (key, value) pairs with distinct keys, the separator, then one of
/// the keys; the model must output its value at the last position.
public struct RecallTask: TrainingTask {
    public let pairs: Int, keys: Int, values: Int

    public init(pairs: Int, keys: Int, values: Int) throws {
        guard (1...2048).contains(pairs), keys >= pairs, keys <= 1000, (2...1000).contains(values) else {
            throw KernelError.invalidArgument("recall: needs 1 to 2048 pairs, keys >= pairs (at most 1000) and 2 to 1000 values")
        }
        (self.pairs, self.keys, self.values) = (pairs, keys, values)
    }

    public var name: String { "recall" }
    public var summary: String { "recall(pairs=\(pairs), keys=\(keys), values=\(values)): \(length) tokens" }
    public var vocabulary: Int? { 2 + keys + values }
    public var classes: Int? { 2 + keys + values }
    public var length: Int { 2 * pairs + 2 }
    public var metric: String { "accuracy" }
    public var lookupContext: Int? { 2 * pairs }

    public func batch(size: Int, rng: inout Xoshiro256) throws -> TaskBatch {
        var tokens = [Int](), targets = [Int]()
        for _ in 0..<size {
            var pool = Array(0..<keys)
            for i in 0..<pairs { pool.swapAt(i, i + Int(rng.integer(below: UInt64(keys - i)))) }
            let chosen = pool[0..<pairs].map { 2 + $0 }
            let answers = (0..<pairs).map { _ in 2 + keys + Int(rng.integer(below: UInt64(values))) }
            let asked = Int(rng.integer(below: UInt64(pairs)))
            for i in 0..<pairs { tokens += [chosen[i], answers[i]] }
            tokens += [1, chosen[asked]]
            targets += [Int](repeating: -1, count: length - 1) + [answers[asked]]
        }
        return .sequences(tokens: tokens, length: length, count: size, targets: targets, perToken: true)
    }
}
