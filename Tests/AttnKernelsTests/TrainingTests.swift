import AttnKernels
import Foundation
import XCTest

/// Models, optimizers, tasks and weight files: whole-model gradients against finite
/// differences, optimizer updates against their formulas, and short trainings that must learn.
final class TrainingTests: XCTestCase {
    /// Loss of one deterministic (inference-mode) pass.
    func loss(_ model: Model, _ batch: TaskBatch) throws -> Float {
        var rng = Xoshiro256(seed: 1)
        let p = model.parameters.bind(to: Tape())
        return p.tape.value(try model.architecture.pass(batch, p, training: false, rng: &rng).loss).data[0]
    }

    /// Every parameter tensor: a few elements' analytic gradients against central differences.
    /// Tree descents are piecewise constant in the weights, so for ReTreever the step is small
    /// enough (1e-3) that it does not move a query across a decision between two children.
    func checkGradients(_ model: Model, _ task: TrainingTask, eps: Float = 1e-2, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = Xoshiro256(seed: 5)
        let batch = try task.batch(size: 2, rng: &rng)
        var passRng = Xoshiro256(seed: 1)
        let p = model.parameters.bind(to: Tape())
        let gradients = try p.gradients(of: try model.architecture.pass(batch, p, training: false, rng: &passRng).loss)
        for name in model.parameters.names {
            let original = try XCTUnwrap(model.parameters[name])
            for i in Set([0, original.count / 2, original.count - 1]) {
                var shifted = original
                shifted.data[i] += eps
                try model.parameters.set(name, shifted)
                let up = try loss(model, batch)
                shifted.data[i] -= 2 * eps
                try model.parameters.set(name, shifted)
                let down = try loss(model, batch)
                try model.parameters.set(name, original)
                let numeric = (up - down) / (2 * eps), analytic = gradients[name]?.data[i] ?? .nan
                XCTAssertLessThan(abs(numeric - analytic) / max(0.05, abs(numeric)), 0.05,
                                  "\(name)[\(i)]: analytic \(analytic), numeric \(numeric)", file: file, line: line)
            }
        }
    }

    func testModelGradientsMatchFiniteDifferences() throws {
        let copy = try CopyTask(length: 3, vocab: 4)
        try checkGradients(try SequenceTransformer.make(vocabulary: 6, classes: 6, dim: 6, layers: 1, heads: 2, maxLength: 7,
                                                        mixer: .dense, projected: 0, seed: 2), copy)
        let listops = try ListOpsTask(length: 9, depth: 1, arguments: 3)
        try checkGradients(try SequenceTransformer.make(vocabulary: 17, classes: 10, dim: 4, layers: 1, heads: 1, maxLength: 9,
                                                        mixer: .linformer, projected: 3, seed: 3), listops)
        try checkGradients(try SequenceTransformer.make(vocabulary: 17, classes: 10, dim: 4, layers: 1, heads: 2, maxLength: 9,
                                                        mixer: .tssa, projected: 0, seed: 3), listops)
        let gp = try GaussianProcessTask(context: 8, targets: 3)
        for retrieval in NeuralProcess.Retrieval.allCases {
            try checkGradients(try NeuralProcess.make(retrieval: retrieval, dim: 4, layers: 1, heads: 2, latents: 3, leaf: 2, seed: 4), gp,
                               eps: retrieval == .tca ? 1e-3 : 1e-2)
        }
        try checkGradients(try NeuralProcess.make(retrieval: .tca, dim: 4, layers: 1, heads: 2, latents: 1, leaf: 2, aggregation: .learned, seed: 5), gp, eps: 1e-3)
        // Finite differences see every path, so the Transformer aggregator is checked with
        // backpropagation through the tree (bptt=true); TreeAggregatorTests covers bptt=false.
        try checkGradients(try NeuralProcess.make(retrieval: .tca, dim: 4, layers: 1, heads: 2, latents: 1, leaf: 2, aggregation: .transformer,
                                                  treeBackprop: true, seed: 6), gp, eps: 1e-3)
        let copy4 = try CopyTask(length: 4, vocab: 4)
        for retrieval in NeuralProcess.Retrieval.allCases {
            try checkGradients(try NeuralProcess.make(retrieval: retrieval, task: copy4, dim: 4, layers: 1, heads: 2, latents: 2, leaf: 2, seed: 7), copy4,
                               eps: retrieval == .tca ? 1e-3 : 1e-2)
        }
    }

    /// A new Transformer aggregator starts as the identity (output projection and last MLP layer
    /// zero), so each node gets the mean of its children's means, which is the mean of its
    /// points: the same model as agg="mean" (same seed, same other weights).
    func testTransformerAggregatorStartsAsTheMean() throws {
        let gp = try GaussianProcessTask(context: 16, targets: 4)
        let mean = try NeuralProcess.make(retrieval: .tca, dim: 8, layers: 1, heads: 2, latents: 1, leaf: 2, seed: 9)
        let tree = try NeuralProcess.make(retrieval: .tca, dim: 8, layers: 1, heads: 2, latents: 1, leaf: 2, aggregation: .transformer, seed: 9)
        for name in ["aggregator.o.weight", "aggregator.o.bias", "aggregator.mlp.1.weight", "aggregator.mlp.1.bias"] {
            XCTAssertEqual(try XCTUnwrap(tree.parameters[name]).data.map(abs).max(), 0, name)
        }
        let a = try Trainer.evaluate(mean, on: gp, examples: 8, batchSize: 8, seed: 1)
        let b = try Trainer.evaluate(tree, on: gp, examples: 8, batchSize: 8, seed: 1)
        XCTAssertEqual(a.loss, b.loss, accuracy: 1e-4 * max(1, abs(a.loss)))
        XCTAssertEqual(a.tokensPerQuery, b.tokensPerQuery)
        // Once its residual projections are not zero, the block changes the summaries, hence the predictions.
        var rng = Xoshiro256(seed: 4)
        try tree.parameters.set("aggregator.o.weight", try Tensor.randn([8, 8], rng: &rng))
        XCTAssertNotEqual(try Trainer.evaluate(tree, on: gp, examples: 8, batchSize: 8, seed: 1).loss, a.loss)
    }

    func testAdamAndScheduleFollowTheirFormulas() throws {
        var store = try LinearModule.make(inputs: 1, outputs: 1, seed: 1).parameters
        let w0 = try XCTUnwrap(store["linear.weight"]).data[0]
        var adam = Optimizer(kind: .adam, schedule: LearningRateSchedule(peak: 0.1))
        let g = try Tensor(shape: [1, 1], data: [0.5])
        try adam.update(&store, ["linear.weight": g, "linear.bias": try Tensor(zeros: [1])])
        // First Adam step: m^ = g, v^ = g^2, so the step is lr * g / (|g| + eps) = lr.
        XCTAssertEqual(try XCTUnwrap(store["linear.weight"]).data[0], w0 - 0.1, accuracy: 1e-6)
        var sgd = Optimizer(kind: .sgd, schedule: LearningRateSchedule(peak: 0.1), clipNorm: 0.25)
        try sgd.update(&store, ["linear.weight": g, "linear.bias": try Tensor(zeros: [1])])
        XCTAssertEqual(try XCTUnwrap(store["linear.weight"]).data[0], w0 - 0.1 - 0.1 * 0.25, accuracy: 1e-6)
        let schedule = LearningRateSchedule(peak: 1, warmup: 4, total: 104, cosine: true, floor: 0.1)
        XCTAssertEqual(schedule.rate(at: 0), 0.25)
        XCTAssertEqual(schedule.rate(at: 4), 1)
        XCTAssertEqual(schedule.rate(at: 54), 0.55, accuracy: 1e-6)
        XCTAssertEqual(schedule.rate(at: 104), 0.1, accuracy: 1e-6)
    }

    func testTrainingLearnsAndIsDeterministic() throws {
        func run() throws -> (first: Float, last: Float, weights: [Float]) {
            let model = try SequenceTransformer.make(vocabulary: 6, classes: 6, dim: 16, layers: 1, heads: 2, maxLength: 9,
                                                     mixer: .dense, projected: 0, seed: 1)
            var trainer = try Trainer(model: model, task: try CopyTask(length: 4, vocab: 4),
                                      optimizer: Optimizer(kind: .adamw, schedule: LearningRateSchedule(peak: 0.01)), batchSize: 8, seed: 2)
            var losses = [Float]()
            for _ in 0..<60 { losses.append(try trainer.step().loss) }
            return (losses[0..<5].reduce(0, +) / 5, losses[55...].reduce(0, +) / 5, model.parameters["head.weight"]?.data ?? [])
        }
        let a = try run(), b = try run()
        XCTAssertLessThan(a.last, 0.7 * a.first, "copy-task loss should fall: \(a.first) -> \(a.last)")
        XCTAssertEqual(a.weights, b.weights)
    }

    func testTasksAreSeededAndWellFormed() throws {
        var r1 = Xoshiro256(seed: 9), r2 = Xoshiro256(seed: 9)
        let listops = try ListOpsTask(length: 40)
        guard case let .sequences(tokens, length, count, targets, perToken) = try listops.batch(size: 5, rng: &r1),
              case let .sequences(again, _, _, _, _) = try listops.batch(size: 5, rng: &r2) else { return XCTFail("not a sequence batch") }
        XCTAssertEqual(tokens, again)
        XCTAssertEqual(tokens.count, length * count)
        XCTAssertFalse(perToken)
        XCTAssertTrue(targets.allSatisfy { (0..<10).contains($0) })
        XCTAssertTrue(tokens.allSatisfy { (0..<17).contains($0) })
        guard case let .sequences(recallTokens, _, _, recallTargets, _) = try RecallTask(pairs: 3, keys: 5, values: 4).batch(size: 1, rng: &r1) else { return XCTFail() }
        // The answer is the value that followed the queried key.
        let asked = recallTokens[7]
        let position = try XCTUnwrap((0..<3).first { recallTokens[2 * $0] == asked })
        XCTAssertEqual(recallTargets[7], recallTokens[2 * position + 1])
        XCTAssertThrowsError(try GaussianProcessTask(context: 4000, targets: 200))
        // majority: the class is the most frequent symbol, ties to the smallest.
        let majority = try MajorityTask(length: 9, vocab: 3)
        guard case let .sequences(bag, _, bags, classes, false) = try majority.batch(size: 200, rng: &r1) else { return XCTFail() }
        for b in 0..<bags {
            let counts = (0..<3).map { s in bag[(b * 9)..<((b + 1) * 9)].filter { $0 == s }.count }
            XCTAssertEqual(classes[b], counts.firstIndex(of: counts.max() ?? 0))
        }
        XCTAssertEqual(Set(classes), [0, 1, 2])
        XCTAssertThrowsError(try MajorityTask(length: 1, vocab: 3))
    }

    func testSafetensorsRoundTripAndErrors() throws {
        let model = try NeuralProcess.make(retrieval: .perceiver, dim: 8, layers: 1, heads: 2, latents: 4, leaf: 2, seed: 1)
        let tensors = model.parameters.names.compactMap { name in model.parameters[name].map { (name, $0) } }
        let bytes = try Safetensors.encode(tensors, metadata: ["format": "pt"])
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        XCTAssertEqual(headerLength % 8, 0)
        let decoded = try Safetensors.decode(bytes)
        XCTAssertEqual(decoded.map { $0.0 }, tensors.map { $0.0 })
        XCTAssertEqual(decoded.map { $0.1 }, tensors.map { $0.1 })
        let other = try NeuralProcess.make(retrieval: .perceiver, dim: 8, layers: 1, heads: 2, latents: 4, leaf: 2, seed: 2)
        try other.load(decoded)
        XCTAssertEqual(other.parameters["latents"], model.parameters["latents"])
        let smaller = try NeuralProcess.make(retrieval: .perceiver, dim: 4, layers: 1, heads: 2, latents: 4, leaf: 2, seed: 2)
        XCTAssertThrowsError(try smaller.load(decoded))
        XCTAssertThrowsError(try Safetensors.decode(Array(bytes[0..<20])))
        XCTAssertThrowsError(try Safetensors.decode([UInt8](repeating: 0xFF, count: 16)))
    }
}
