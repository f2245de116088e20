import Foundation

// Losses of the training tasks. Each returns the mean loss as a [1] variable and the per-row
// losses (plain numbers, for metrics and for REINFORCE rewards).
extension Tape {
    /// Mean cross-entropy of logits [rows, classes] against class indices; rows whose target is
    /// negative are ignored (positions a task does not score).
    public func crossEntropy(_ logits: Variable, targets: [Int]) throws -> (loss: Variable, perRow: [Float], correct: [Bool]) {
        let x = value(logits)
        guard x.rank == 2, x.shape[0] == targets.count else {
            throw KernelError.shapeMismatch("cross-entropy needs logits [rows, classes] and one target per row", x.shape, [targets.count])
        }
        let (rows, classes) = (x.shape[0], x.shape[1])
        if let bad = targets.first(where: { $0 >= classes }) {
            throw KernelError.invalidArgument("target class \(bad) is out of range for \(classes) classes")
        }
        guard classes >= 1 else { throw KernelError.invalidArgument("cross-entropy needs at least one class") }
        let probabilities = try x.softmax(axis: -1)
        var perRow = [Float](repeating: 0, count: rows), correct = [Bool](repeating: false, count: rows)
        var total = 0.0, scored = 0
        let predicted = x.rowArgmax()
        for r in 0..<rows where targets[r] >= 0 {
            let p = probabilities.data[r * classes + targets[r]]
            perRow[r] = -logf(max(p, 1e-30))
            total += Double(perRow[r])
            scored += 1
            correct[r] = predicted[r] == targets[r]
        }
        let count = Float(max(1, scored))
        let loss = record(try Tensor(shape: [1], data: [Float(total / Double(max(1, scored)))])) { up, accumulate in
            var d = probabilities
            for r in 0..<rows {
                for c in 0..<classes {
                    let i = r * classes + c
                    d.data[i] = targets[r] < 0 ? 0 : (d.data[i] - (c == targets[r] ? 1 : 0)) * up.data[0] / count
                }
            }
            try accumulate(logits, d)
        }
        return (loss, perRow, correct)
    }

    /// The standard deviation a raw scale output stands for: 0.1 + 0.9 * softplus(raw), as in the
    /// Neural Process papers (the floor keeps the likelihood bounded).
    public static func gaussianScale(_ raw: Float) -> Float {
        0.1 + 0.9 * (raw > 20 ? raw : log1pf(expf(raw)))
    }

    /// Gaussian negative log-likelihood of targets under outputs [rows, 2]: column 0 is the mean,
    /// column 1 the raw scale (sigma = gaussianScale(raw)).
    public func gaussianNLL(_ outputs: Variable, targets: [Float]) throws -> (loss: Variable, perRow: [Float]) {
        let x = value(outputs)
        guard x.rank == 2, x.shape[1] == 2, x.shape[0] == targets.count else {
            throw KernelError.shapeMismatch("gaussian NLL needs outputs [rows, 2] (mean, scale) and one target per row", x.shape, [targets.count, 2])
        }
        let rows = targets.count
        var perRow = [Float](repeating: 0, count: rows)
        var dMean = [Float](repeating: 0, count: rows), dRaw = [Float](repeating: 0, count: rows)
        let halfLogTwoPi: Float = 0.9189385
        for r in 0..<rows {
            let mean = x.data[2 * r], raw = x.data[2 * r + 1]
            let sigmoid = 1 / (1 + expf(-raw))  // softplus' derivative
            let sigma = Tape.gaussianScale(raw), z = (targets[r] - mean) / sigma
            perRow[r] = halfLogTwoPi + logf(sigma) + 0.5 * z * z
            dMean[r] = -z / sigma
            dRaw[r] = (1 / sigma - z * z / sigma) * 0.9 * sigmoid
        }
        let n = Float(max(1, rows))
        let loss = record(try Tensor(shape: [1], data: [perRow.reduce(0, +) / n])) { up, accumulate in
            var d = try Tensor(zeros: x.shape)
            for r in 0..<rows {
                d.data[2 * r] = dMean[r] * up.data[0] / n
                d.data[2 * r + 1] = dRaw[r] * up.data[0] / n
            }
            try accumulate(outputs, d)
        }
        return (loss, perRow)
    }

    /// REINFORCE for a discrete choice among candidates: row i of q [rows, d] scores its
    /// `choices` candidates (rows i*choices..<(i+1)*choices of `candidates`) by scaled dot product;
    /// the loss is mean over rows of -advantage[i] * log p(chosen[i]) - entropyWeight * entropy.
    public func policyGradient(_ q: Variable, _ candidates: Variable, choices: Int, chosen: [Int], advantage: [Float],
                               entropyWeight: Float) throws -> Variable {
        let queries = value(q), keys = value(candidates)
        let (rows, dim) = (queries.shape[0], queries.shape.last ?? 0)
        guard queries.rank == 2, keys.rank == 2, keys.shape == [rows * choices, dim], chosen.count == rows, advantage.count == rows else {
            throw KernelError.shapeMismatch("policy gradient needs q [rows, d], candidates [rows * choices, d], one choice and advantage per row", queries.shape, keys.shape)
        }
        let scale = 1 / Float(max(1, dim)).squareRoot()
        var scoreGrad = [Float](repeating: 0, count: rows * choices)
        var total: Float = 0
        for i in 0..<rows {
            var scores = (0..<choices).map { c -> Float in
                var dot: Float = 0
                for j in 0..<dim { dot += queries.data[i * dim + j] * keys.data[(i * choices + c) * dim + j] }
                return dot * scale
            }
            let top = scores.max() ?? 0
            var sum: Float = 0
            for c in 0..<choices { scores[c] = expf(scores[c] - top); sum += scores[c] }
            let p = scores.map { $0 / sum }
            let logP = p.map { logf(max($0, 1e-30)) }
            var entropy: Float = 0
            for c in 0..<choices { entropy -= p[c] * logP[c] }
            total += -advantage[i] * logP[chosen[i]] - entropyWeight * entropy
            for c in 0..<choices {
                scoreGrad[i * choices + c] = -advantage[i] * ((c == chosen[i] ? 1 : 0) - p[c]) + entropyWeight * p[c] * (logP[c] + entropy)
            }
        }
        let n = Float(max(1, rows))
        return record(try Tensor(shape: [1], data: [total / n])) { up, accumulate in
            var dq = try Tensor(zeros: queries.shape), dk = try Tensor(zeros: keys.shape)
            let factor = up.data[0] * scale / n
            for i in 0..<rows {
                for c in 0..<choices {
                    let s = scoreGrad[i * choices + c] * factor, k = (i * choices + c) * dim
                    for j in 0..<dim {
                        dq.data[i * dim + j] += s * keys.data[k + j]
                        dk.data[k + j] += s * queries.data[i * dim + j]
                    }
                }
            }
            try accumulate(q, dq)
            try accumulate(candidates, dk)
        }
    }
}
