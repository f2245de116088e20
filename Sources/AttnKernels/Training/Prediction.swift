import Foundation

/// A model's predictions on `examples` held-out examples of a task, one row per example, as
/// named tensors: the inputs, the targets and the model's output (for tables and plots).
///   regression: context_x, context_y, target_x, target_y, mean, std  ([n, points] each);
///   tokens:     tokens [n, length], targets and predicted (the argmax class) for every scored
///               position ([n, positions]; for a classification task [n, 1]).
public struct Prediction {
    public var fields: [(String, Tensor)] = []

    public init(_ model: Model, on task: TrainingTask, examples: Int, seed: UInt64) throws {
        guard (1...4096).contains(examples) else { throw KernelError.invalidArgument("predict: n must be 1 to 4096, got \(examples)") }
        try model.architecture.check(task)
        var rng = Xoshiro256(seed: seed)
        let batch = try task.checkedBatch(size: examples, rng: &rng)
        let p = model.parameters.bind(to: Tape())
        let result = try model.architecture.pass(batch, p, training: false, rng: &rng)
        guard let outputs = result.outputs.map({ p.tape.value($0) }) else {
            throw KernelError.invalidArgument("this model does not report its outputs")
        }
        func matrix(_ values: [Float]) throws -> Tensor {
            try Tensor(shape: [examples, values.count / examples], data: values)
        }
        let inputs = try batch.tensors()
        switch batch {
        case .regression:
            let rows = outputs.shape[0]
            let mean = (0..<rows).map { outputs.data[2 * $0] }
            let std = (0..<rows).map { Tape.gaussianScale(outputs.data[2 * $0 + 1]) }
            fields = inputs + [("mean", try matrix(mean)), ("std", try matrix(std))]
        case let .sequences(_, _, _, targets, perToken):
            let predicted = outputs.rowArgmax().map(Float.init)
            // The outputs cover every token (transformer), one row per sequence (classification)
            // or the scored positions only (retrieval models): keep the scored ones.
            let scored = perToken ? targets.filter { $0 >= 0 } : targets
            let kept = outputs.shape[0] == targets.count && perToken
                ? zip(targets, predicted).filter { $0.0 >= 0 }.map { $0.1 }
                : predicted
            fields = [inputs[0], ("targets", try matrix(scored.map(Float.init))), ("predicted", try matrix(kept))]
        }
    }
}
