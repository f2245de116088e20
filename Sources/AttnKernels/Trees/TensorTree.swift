import Foundation

// The balanced, tensorised tree of tca.md. Tokens (in tree order) are padded to P * b^k by
// repeating the first tokens (+1e-5) and masked; node l at level i (0 = root, k = leaves) has
// children b*l ..< b*l + b at level i + 1; leaf l holds tokens l*P ..< (l+1)*P. A node's summary
// is the aggregate (masked mean or max) of its children; a node is padding only if all its
// children are.
public struct TensorTree: Sendable {
    public enum Aggregation: String, Sendable { case mean, max }
    public enum Ordering: String, Sendable { case kd, given }

    public let branch: Int
    public let depth: Int
    public let leafSize: Int
    public let count: Int
    public let dim: Int
    /// order[i] is the original index of the token at tree position i (count entries).
    public let order: [Int]
    /// [P * b^k, d] tokens in tree order, padding included.
    public let tokens: Tensor
    public let tokenIsPadding: [Bool]
    /// levels[i]: [b^i, d] node summaries, i = 0 (root) ... depth (leaves).
    public let levels: [Tensor]
    public let nodeIsPadding: [[Bool]]
    public let aggregation: Aggregation
    public var buildMilliseconds: Double = 0

    public var leafCount: Int { levels.last.map { $0.shape[0] } ?? 1 }
    public var nodeCount: Int { levels.reduce(0) { $0 + $1.shape[0] } }

    /// Depth and leaf size: k = floor(log_b(N - 1)), P = ceil(N / b^k); with `leaf`, the smallest
    /// depth whose leaves hold at most `leaf` tokens.
    public static func shape(count n: Int, branch b: Int, leaf: Int?) throws -> (depth: Int, leafSize: Int) {
        guard b >= 2 else { throw KernelError.invalidArgument("tree branch must be at least 2, got \(b)") }
        guard n >= 1 else { throw KernelError.invalidArgument("a tree needs at least one token") }
        var depth = 0
        if let leaf {
            guard leaf >= 1 else { throw KernelError.invalidArgument("tree leaf size must be at least 1, got \(leaf)") }
            guard leaf <= n else { throw KernelError.invalidArgument("tree leaf size \(leaf) is larger than the number of tokens \(n)") }
            var width = 1
            while (n + width - 1) / width > leaf {
                width *= b
                depth += 1
            }
        } else {
            var width = 1
            while n > 1 && width * b <= n - 1 {
                width *= b
                depth += 1
            }
        }
        let leaves = power(b, depth)
        return (depth, (n + leaves - 1) / leaves)
    }

    static func power(_ b: Int, _ e: Int) -> Int { (0..<e).reduce(1) { acc, _ in acc * b } }

    public init(context: Tensor, branch: Int = 2, leaf: Int? = nil, ordering: Ordering = .kd, by: Tensor? = nil,
                aggregation: Aggregation = .mean) throws {
        guard context.rank == 2 else {
            throw KernelError.invalidShape("tree needs context tokens as a matrix [N, d], got shape \(formatShape(context.shape))")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let n = context.shape[0], d = context.shape[1]
        let (depth, leafSize) = try TensorTree.shape(count: n, branch: branch, leaf: leaf)
        let leaves = TensorTree.power(branch, depth)
        let padded = leafSize * leaves
        try MemoryLimit.reserve(padded * d * 3)
        if let by, by.rank != 2 || by.shape[0] != n {
            throw KernelError.shapeMismatch("tree `by` needs one row per token", context.shape, by.shape)
        }
        var order = Array(0..<n)
        if ordering == .kd {
            let source = by ?? context
            order = source.data.withUnsafeBufferPointer { p in
                KDOrder.permutation(points: p.baseAddress.unsafelyUnwrapped, count: n, dim: source.shape[1],
                                    branch: branch, depth: depth, leafSize: leafSize)
            }
        }
        var tokens = try Tensor(zeros: [padded, d])
        var tokenIsPadding = [Bool](repeating: false, count: padded)
        for position in 0..<padded {
            let isPadding = position >= n
            let sourceRow = order[isPadding ? (position - n) % n : position]
            for c in 0..<d {
                tokens.data[position * d + c] = context.data[sourceRow * d + c] + (isPadding ? 1e-5 : 0)
            }
            tokenIsPadding[position] = isPadding
        }
        // Leaves from tokens, then each level from the one below.
        var levels = [Tensor](repeating: try Tensor(zeros: [1, d]), count: depth + 1)
        var nodeIsPadding = [[Bool]](repeating: [], count: depth + 1)
        (levels[depth], nodeIsPadding[depth]) = try TensorTree.aggregate(tokens, tokenIsPadding, groups: leaves, groupSize: leafSize, aggregation)
        var level = depth
        while level > 0 {
            (levels[level - 1], nodeIsPadding[level - 1]) = try TensorTree.aggregate(
                levels[level], nodeIsPadding[level], groups: TensorTree.power(branch, level - 1), groupSize: branch, aggregation)
            level -= 1
        }
        self.branch = branch
        self.depth = depth
        self.leafSize = leafSize
        self.count = n
        self.dim = d
        self.order = order
        self.tokens = tokens
        self.tokenIsPadding = tokenIsPadding
        self.levels = levels
        self.nodeIsPadding = nodeIsPadding
        self.aggregation = aggregation
        self.buildMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }

    /// Aggregates consecutive groups of rows, skipping masked rows.
    static func aggregate(_ rows: Tensor, _ masked: [Bool], groups: Int, groupSize: Int, _ aggregation: Aggregation) throws -> (Tensor, [Bool]) {
        let d = rows.shape[1]
        var out = try Tensor(zeros: [groups, d])
        var isPadding = [Bool](repeating: true, count: groups)
        for g in 0..<groups {
            var used = 0
            for member in (g * groupSize)..<((g + 1) * groupSize) where !masked[member] {
                for c in 0..<d {
                    let x = rows.data[member * d + c]
                    switch aggregation {
                    case .mean: out.data[g * d + c] += x
                    case .max: out.data[g * d + c] = used == 0 ? x : Swift.max(out.data[g * d + c], x)
                    }
                }
                used += 1
            }
            if used > 0 {
                isPadding[g] = false
                if aggregation == .mean { for c in 0..<d { out.data[g * d + c] /= Float(used) } }
            }
        }
        return (out, isPadding)
    }
}
