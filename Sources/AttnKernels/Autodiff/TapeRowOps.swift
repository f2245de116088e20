import Foundation

/// Output rows as weighted sums of input rows, in compressed form: output row r is
/// sum over j in starts[r]..<starts[r+1] of weights[j] * input[sources[j]]. A gather (embedding
/// lookup, the tokens a tree query retrieves) has one source of weight 1 per row; a node summary
/// has the node's tokens with weight 1/size.
public struct RowMix: Sendable {
    public private(set) var starts: [Int] = [0]
    public private(set) var sources: [Int] = []
    public private(set) var weights: [Float] = []

    public init() {}

    /// One row per index, each a copy of that input row.
    public init(gather indices: [Int]) {
        for index in indices { appendRow([(index, 1)]) }
    }

    public var rowCount: Int { starts.count - 1 }

    public mutating func appendRow(_ terms: [(Int, Float)]) {
        for (source, weight) in terms {
            sources.append(source)
            weights.append(weight)
        }
        starts.append(sources.count)
    }
}

extension Tape {
    /// Rows of x [n, c] mixed by `mix` into [mix.rowCount, c]; the backward scatters back.
    public func mixRows(_ x: Variable, _ mix: RowMix) throws -> Variable {
        let input = value(x)
        guard input.rank == 2 else { throw KernelError.invalidShape("row selection needs a matrix, got \(formatShape(input.shape))") }
        let (n, cols) = (input.shape[0], input.shape[1])
        if let bad = mix.sources.first(where: { $0 < 0 || $0 >= n }) {
            throw KernelError.invalidArgument("row index \(bad) is out of range for \(n) rows")
        }
        var out = try Tensor(zeros: [mix.rowCount, cols])
        for r in 0..<mix.rowCount {
            for j in mix.starts[r]..<mix.starts[r + 1] {
                let source = mix.sources[j] * cols, w = mix.weights[j]
                for c in 0..<cols { out.data[r * cols + c] += w * input.data[source + c] }
            }
        }
        return record(out) { up, accumulate in
            var dx = try Tensor(zeros: [n, cols])
            for r in 0..<mix.rowCount {
                for j in mix.starts[r]..<mix.starts[r + 1] {
                    let source = mix.sources[j] * cols, w = mix.weights[j]
                    for c in 0..<cols { dx.data[source + c] += w * up.data[r * cols + c] }
                }
            }
            try accumulate(x, dx)
        }
    }

    /// x [r, c] repeated `times` times down the rows ([r * times, c]): a shared parameter
    /// (Perceiver latents) used by every sequence of a batch.
    public func tileRows(_ x: Variable, times: Int) throws -> Variable {
        let input = value(x)
        guard input.rank == 2, times >= 1 else { throw KernelError.invalidShape("tileRows needs a matrix and times >= 1") }
        var data = [Float]()
        data.reserveCapacity(input.count * times)
        for _ in 0..<times { data.append(contentsOf: input.data) }
        return record(try Tensor(shape: [input.shape[0] * times, input.shape[1]], data: data)) { up, accumulate in
            var dx = try Tensor(zeros: input.shape)
            for t in 0..<times {
                for i in 0..<input.count { dx.data[i] += up.data[t * input.count + i] }
            }
            try accumulate(x, dx)
        }
    }

    /// Columns start..<start+count of x [rows, cols] (a head's output, a mean/scale pair).
    public func columns(_ x: Variable, _ range: Range<Int>) throws -> Variable {
        let input = value(x)
        guard input.rank == 2, range.lowerBound >= 0, range.upperBound <= input.shape[1] else {
            throw KernelError.invalidShape("columns \(range) out of range for shape \(formatShape(input.shape))")
        }
        let (rows, cols, width) = (input.shape[0], input.shape[1], range.count)
        var out = try Tensor(zeros: [rows, width])
        for r in 0..<rows { for c in 0..<width { out.data[r * width + c] = input.data[r * cols + range.lowerBound + c] } }
        return record(out) { up, accumulate in
            var dx = try Tensor(zeros: input.shape)
            for r in 0..<rows { for c in 0..<width { dx.data[r * cols + range.lowerBound + c] = up.data[r * width + c] } }
            try accumulate(x, dx)
        }
    }
}

extension Tape {
    /// Matrices with equal widths stacked down the rows.
    public func stackRows(_ parts: [Variable]) throws -> Variable {
        let values = parts.map { value($0) }
        guard values.allSatisfy({ $0.rank == 2 }) else { throw KernelError.invalidShape("stackRows takes matrices") }
        let counts = values.map { $0.shape[0] }
        return record(try Tensor.concat(values, axis: 0)) { up, accumulate in
            var start = 0
            for (part, count) in zip(parts, counts) {
                try accumulate(part, try up.rows(start, count))
                start += count
            }
        }
    }
}
