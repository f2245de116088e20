import Foundation

/// One training step's numbers.
public struct StepReport: Sendable {
    public var step: Int
    public var loss: Float
    /// The task metric on this batch (accuracy or mean log-likelihood).
    public var metric: Double
    public var learningRate: Float
    public var gradientNorm: Float
}

/// Evaluation over held-out batches.
public struct Evaluation: Sendable {
    public var loss: Double
    public var metric: Double
    public var tokensPerQuery: Double
    public var milliseconds: Double
}

/// Trains a model on a task: draw a batch (seeded), forward and backward on a fresh tape, one
/// optimizer update. Sequential and seeded, so a run is reproducible for any thread count.
public struct Trainer {
    public let model: Model
    public let task: TrainingTask
    public var optimizer: Optimizer
    public let batchSize: Int
    private var rng: Xoshiro256
    public private(set) var steps = 0

    public init(model: Model, task: TrainingTask, optimizer: Optimizer, batchSize: Int, seed: UInt64) throws {
        guard (1...65_536).contains(batchSize) else { throw KernelError.invalidArgument("batch must be 1 to 65536, got \(batchSize)") }
        try model.architecture.check(task)
        (self.model, self.task, self.optimizer, self.batchSize) = (model, task, optimizer, batchSize)
        rng = Xoshiro256(seed: seed)
    }

    public mutating func step() throws -> StepReport {
        let batch = try task.checkedBatch(size: batchSize, rng: &rng)
        let p = model.parameters.bind(to: Tape())
        let result = try model.architecture.pass(batch, p, training: true, rng: &rng)
        let gradients = try p.gradients(of: result.loss)
        let update = try optimizer.update(&model.parameters, gradients)
        steps += 1
        let loss = p.tape.value(result.loss).data[0]
        guard loss.isFinite else {
            throw KernelError.invalidArgument("the loss became \(loss) at step \(steps); try a smaller lr or clip=1")
        }
        return StepReport(step: steps, loss: loss, metric: result.metricSum / Double(max(1, result.metricCount)),
                          learningRate: update.lr, gradientNorm: update.gradNorm)
    }

    /// `examples` held-out examples drawn from `seed` (the same set on every call with that seed),
    /// run in batches of `batchSize` in inference mode (greedy tree descent, no gradients kept).
    public static func evaluate(_ model: Model, on task: TrainingTask, examples: Int, batchSize: Int, seed: UInt64) throws -> Evaluation {
        guard examples >= 1, batchSize >= 1 else { throw KernelError.invalidArgument("evaluate needs n >= 1") }
        try model.architecture.check(task)
        var rng = Xoshiro256(seed: seed)
        var lossSum = 0.0, metricSum = 0.0, metricCount = 0, tokens = 0.0, batches = 0, seconds = 0.0
        var remaining = examples
        while remaining > 0 {
            try Cancellation.check()
            let size = min(batchSize, remaining)
            let batch = try task.checkedBatch(size: size, rng: &rng)
            let start = DispatchTime.now().uptimeNanoseconds
            let p = model.parameters.bind(to: Tape())
            let result = try model.architecture.pass(batch, p, training: false, rng: &rng)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            lossSum += Double(p.tape.value(result.loss).data[0]) * Double(size)
            metricSum += result.metricSum
            metricCount += result.metricCount
            tokens += result.tokensPerQuery
            batches += 1
            remaining -= size
        }
        return Evaluation(loss: lossSum / Double(examples), metric: metricSum / Double(max(1, metricCount)),
                          tokensPerQuery: tokens / Double(batches), milliseconds: seconds * 1000)
    }
}
