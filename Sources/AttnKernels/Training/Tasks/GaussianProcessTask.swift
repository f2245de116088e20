import Foundation

/// 1-D Gaussian-process regression as in the Neural Process literature: each function is drawn
/// from a GP with an RBF kernel k(x, x') = s^2 exp(-(x - x')^2 / (2 l^2)), the length scale l
/// uniform in [lengthMin, lengthMax], the scale s uniform in [0.1, 1], plus observation noise;
/// inputs are uniform in [-2, 2], split into `context` points the model sees and `targets`
/// points it predicts. The metric is the mean log-likelihood of the targets.
public struct GaussianProcessTask: TrainingTask {
    public let context: Int, targets: Int
    public let lengthMin: Double, lengthMax: Double
    public let noise: Double

    public init(context: Int, targets: Int, lengthMin: Double = 0.1, lengthMax: Double = 0.6, noise: Double = 0.02) throws {
        guard (1...65_536).contains(context), (1...65_536).contains(targets) else {
            throw KernelError.invalidArgument("gp: context and targets must be 1 to 65536 points, got \(context) and \(targets)")
        }
        guard context + targets <= 4096 else {
            throw KernelError.invalidArgument("gp: context + targets must be at most 4096 (each function needs a Cholesky factor of that size), got \(context + targets)")
        }
        guard lengthMin > 0, lengthMax >= lengthMin, noise >= 0 else {
            throw KernelError.invalidArgument("gp: length scales must be positive with min <= max, and noise >= 0")
        }
        (self.context, self.targets, self.lengthMin, self.lengthMax, self.noise) = (context, targets, lengthMin, lengthMax, noise)
    }

    public var name: String { "gp" }
    public var summary: String { "gp(context=\(context), targets=\(targets)): RBF functions, length scale \(lengthMin)-\(lengthMax)" }
    public var vocabulary: Int? { nil }
    public var classes: Int? { nil }
    public var length: Int { context }
    public var metric: String { "log_likelihood" }
    public var lookupContext: Int? { nil }

    public func batch(size: Int, rng: inout Xoshiro256) throws -> TaskBatch {
        let n = context + targets
        var cx = [Float](), cy = [Float](), tx = [Float](), ty = [Float]()
        for _ in 0..<size {
            let lengthScale = lengthMin + (lengthMax - lengthMin) * rng.uniformDouble()
            let scale = 0.1 + 0.9 * rng.uniformDouble()
            let xs = (0..<n).map { _ in -2 + 4 * rng.uniformDouble() }
            let ys = try sample(xs, lengthScale: lengthScale, scale: scale, rng: &rng)
            cx += xs[0..<context].map(Float.init); cy += ys[0..<context].map(Float.init)
            tx += xs[context...].map(Float.init); ty += ys[context...].map(Float.init)
        }
        return .regression(contextX: cx, contextY: cy, contextCount: context, targetX: tx, targetY: ty, targetCount: targets, count: size)
    }

    /// y = L z with L the Cholesky factor of the kernel matrix (jitter keeps it positive definite).
    func sample(_ xs: [Double], lengthScale: Double, scale: Double, rng: inout Xoshiro256) throws -> [Double] {
        let n = xs.count
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                let d = xs[i] - xs[j]
                var sum = scale * scale * Foundation.exp(-d * d / (2 * lengthScale * lengthScale)) + (i == j ? noise * noise + 1e-5 : 0)
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard sum > 0 else { throw KernelError.invalidArgument("gp: kernel matrix is not positive definite") }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        let z = (0..<n).map { _ in rng.normal() }
        return (0..<n).map { i in (0...i).reduce(0.0) { $0 + l[i * n + $1] * z[$1] } }
    }
}
