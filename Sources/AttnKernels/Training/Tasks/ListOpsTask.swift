import Foundation

/// A small ListOps (Nangia & Bowman; the Long Range Arena's version): nested prefix expressions
/// over digits with MAX, MIN, MED (median) and SM (sum mod 10), e.g. [MAX 2 9 [MIN 4 7 ] 0 ],
/// padded to `length` tokens; the class is the value 0-9. Tokens: 0 pad, 1 unused, 2-11 digits,
/// 12-15 operators, 16 `]` (an operator token opens its bracket).
public struct ListOpsTask: TrainingTask {
    public let sequenceLength: Int, maxDepth: Int, maxArguments: Int

    public init(length: Int, depth: Int = 3, arguments: Int = 4) throws {
        guard (8...8192).contains(length), (1...8).contains(depth), (2...10).contains(arguments) else {
            throw KernelError.invalidArgument("listops: length must be 8 to 8192, depth 1 to 8, arguments 2 to 10")
        }
        (sequenceLength, maxDepth, maxArguments) = (length, depth, arguments)
    }

    public var name: String { "listops" }
    public var summary: String { "listops(length=\(sequenceLength), depth=\(maxDepth)): 10 classes" }
    public var vocabulary: Int? { 17 }
    public var classes: Int? { 10 }
    public var length: Int { sequenceLength }
    public var metric: String { "accuracy" }
    public var lookupContext: Int? { nil }

    public func batch(size: Int, rng: inout Xoshiro256) throws -> TaskBatch {
        var tokens = [Int](), targets = [Int]()
        for _ in 0..<size {
            var expression = [Int](), value = 0
            // Redraw expressions that do not fit (rare for the default sizes; bounded attempts).
            for attempt in 0..<100 {
                expression = []
                value = generate(depth: 0, into: &expression, rng: &rng)
                if expression.count <= sequenceLength { break }
                if attempt == 99 { expression = [2 + value] }
            }
            tokens += expression + [Int](repeating: 0, count: sequenceLength - expression.count)
            targets.append(value)
        }
        return .sequences(tokens: tokens, length: sequenceLength, count: size, targets: targets, perToken: false)
    }

    func generate(depth: Int, into tokens: inout [Int], rng: inout Xoshiro256) -> Int {
        if depth >= maxDepth || (depth > 0 && rng.uniformFloat() < 0.35) {
            let digit = Int(rng.integer(below: 10))
            tokens.append(2 + digit)
            return digit
        }
        let op = Int(rng.integer(below: 4))
        tokens.append(12 + op)
        let count = 2 + Int(rng.integer(below: UInt64(maxArguments - 1)))
        var values = [Int]()
        for _ in 0..<count { values.append(generate(depth: depth + 1, into: &tokens, rng: &rng)) }
        tokens.append(16)
        switch op {
        case 0: return values.max() ?? 0
        case 1: return values.min() ?? 0
        case 2: return values.sorted()[values.count / 2]
        default: return values.reduce(0, +) % 10
        }
    }
}
