import Foundation

/// A bag-of-tokens classification: each sequence's `length` tokens are drawn from `vocab`
/// symbols with probabilities of its own (a flat Dirichlet draw, so the two most frequent
/// symbols are often close), and the class is the most frequent symbol (ties: the smallest).
/// The order carries no information: a model that only pools global token statistics (ToST's
/// TSSA) can solve it as well as one that moves information between positions, unlike ListOps.
public struct MajorityTask: TrainingTask {
    public let sequenceLength: Int, symbols: Int

    public init(length: Int, vocab: Int) throws {
        guard (2...8192).contains(length), (2...256).contains(vocab) else {
            throw KernelError.invalidArgument("majority: length must be 2 to 8192 and vocab 2 to 256, got \(length) and \(vocab)")
        }
        (sequenceLength, symbols) = (length, vocab)
    }

    public var name: String { "majority" }
    public var summary: String { "majority(length=\(sequenceLength), vocab=\(symbols)): \(symbols) classes" }
    public var vocabulary: Int? { symbols }
    public var classes: Int? { symbols }
    public var length: Int { sequenceLength }
    public var metric: String { "accuracy" }
    public var lookupContext: Int? { nil }

    public func batch(size: Int, rng: inout Xoshiro256) throws -> TaskBatch {
        var tokens = [Int](), targets = [Int]()
        tokens.reserveCapacity(size * sequenceLength)
        for _ in 0..<size {
            // Flat Dirichlet: normalised exponential draws; tokens by inverting the cumulative sum.
            let weights = (0..<symbols).map { _ in -log(max(1e-12, rng.uniformDouble())) }
            var cumulative = [Double](), total = 0.0
            for w in weights { total += w; cumulative.append(total) }
            var counts = [Int](repeating: 0, count: symbols)
            for _ in 0..<sequenceLength {
                let u = rng.uniformDouble() * total
                let symbol = cumulative.firstIndex { u < $0 } ?? symbols - 1
                counts[symbol] += 1
                tokens.append(symbol)
            }
            targets.append(counts.indices.max { (counts[$0], $1) < (counts[$1], $0) } ?? 0)
        }
        return .sequences(tokens: tokens, length: sequenceLength, count: size, targets: targets, perToken: false)
    }
}
