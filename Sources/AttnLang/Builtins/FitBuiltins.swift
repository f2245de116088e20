import AttnKernels
import Foundation

// Training loops: `fit` trains a model on a task in place and returns its history; `evaluate`
// scores it on held-out examples. On a terminal, fit shows a bar with the loss and steps/s;
// Ctrl-C stops it at once: the step in progress is dropped (its update never happens), and the
// model keeps the weights of the last completed step.
enum FitBuiltins {
    static func optimizer(_ args: Arguments, steps: Int) throws -> Optimizer {
        let kind = try args.choice("optimizer", Optimizer.Kind.self, Optimizer.Kind.allCases.map(\.rawValue))
        let lr = try args.double("lr"), warmup = try args.int("warmup")
        guard lr > 0, lr.isFinite else { throw BuiltinError(message: "`lr` must be a positive number, got \(lr)") }
        guard warmup >= 0 else { throw BuiltinError(message: "`warmup` must be at least 0") }
        let schedule = try args.string("schedule")
        guard ["constant", "cosine"].contains(schedule) else { throw BuiltinError(message: "`schedule` must be \"constant\" or \"cosine\", got \"\(schedule)\"") }
        let clip = try args.optionalDouble("clip")
        if let clip, clip <= 0 { throw BuiltinError(message: "`clip` must be positive") }
        return Optimizer(kind: kind, schedule: LearningRateSchedule(peak: Float(lr), warmup: warmup, total: steps, cosine: schedule == "cosine"),
                         weightDecay: try args.optionalDouble("weight_decay").map(Float.init), clipNorm: clip.map(Float.init))
    }

    static func evaluation(_ e: Evaluation, metric: String) -> Record {
        Record([("loss", .float(e.loss)), (metric, .float(e.metric)), ("tokens", .float(e.tokensPerQuery)), ("ms", .float(e.milliseconds))])
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// One training step and, when due, an evaluation: the step's history row.
    static func step(_ trainer: inout Trainer, task: TrainingTask, evalEvery: Int, evalN: Int, seed: UInt64, elapsed: inout UInt64) throws -> Record {
        let start = now()
        let report = try trainer.step()
        elapsed += now() - start
        var row = Record([("step", .int(report.step)), ("loss", .float(Double(report.loss))), (task.metric, .float(report.metric)),
                          ("lr", .float(Double(report.learningRate))), ("grad_norm", .float(Double(report.gradientNorm))),
                          ("ms", .float(Double(elapsed) / 1e6))])
        if evalEvery > 0 && (report.step % evalEvery == 0 || report.step == trainer.optimizer.schedule.total) {
            let e = try Trainer.evaluate(trainer.model, on: task, examples: evalN, batchSize: min(evalN, 64), seed: seed &+ 0x5EED)
            row["eval_loss"] = .float(e.loss)
            row["eval_" + task.metric] = .float(e.metric)
        }
        return row
    }

    static let fitDoc = """
    Each step draws a seeded batch, runs forward and backward on a fresh tape and updates the \
    weights (optimizer "sgd" (momentum 0.9), "adam" or "adamw" (weight decay 0.01 unless \
    weight_decay=); clip= caps the global gradient norm; warmup= steps of linear warmup; \
    schedule="cosine" decays to 0 at the last step). History rows: {step, loss, <metric>, lr, \
    grad_norm, ms (training time so far)}, plus eval_loss and eval_<metric> every eval_every \
    steps (eval_n held-out examples, the same ones each time). Ctrl-C stops training at once: \
    the step in progress is dropped, the model keeps the weights of the last completed step, and \
    fit returns the history up to there.
    """

    static let all: [Builtin] = [
        Builtin("fit", [.required("model", .model), .required("task", .task), .optional("steps", .int, .int(200)),
                        .optional("lr", .number, .float(1e-3)), .optional("batch", .int, .int(16)), .optional("seed", .optional(.int)),
                        .optional("optimizer", .string, .string("adamw")), .optional("schedule", .string, .string("constant")),
                        .optional("warmup", .int, .int(0)), .optional("clip", .optional(.number)), .optional("weight_decay", .optional(.number)),
                        .optional("eval_every", .int, .int(0)), .optional("eval_n", .int, .int(64))],
                summary: "Train the model on the task in place; returns the history as a list of records (for table and plot).",
                doc: fitDoc) { args, interp in
            let model = try ModuleBuiltins.model(args), task = try TaskBuiltins.task(args)
            let steps = try args.int("steps"), evalEvery = try args.int("eval_every"), evalN = try args.int("eval_n")
            guard (1...10_000_000).contains(steps) else { throw BuiltinError(message: "`steps` must be 1 to 10000000, got \(steps)") }
            guard evalEvery >= 0, evalN >= 1 else { throw BuiltinError(message: "`eval_every` must be at least 0 and `eval_n` at least 1") }
            let seed = try args.seed(interp)
            var trainer = try Trainer(model: model, task: task, optimizer: try optimizer(args, steps: steps), batchSize: try args.int("batch"), seed: seed)
            var history = [Value]()
            let bar = ProgressDisplay.shared.beginBar(label: "fit", total: steps)
            defer { ProgressDisplay.shared.endBar(bar) }
            var trainingNanoseconds: UInt64 = 0
            for _ in 0..<steps {
                do {
                    history.append(.record(try step(&trainer, task: task, evalEvery: evalEvery, evalN: evalN, seed: seed, elapsed: &trainingNanoseconds)))
                } catch KernelError.cancelled {
                    Cancellation.reset()
                    interp.printError("fit: interrupted after step \(trainer.steps) of \(steps); the model keeps the weights trained so far\n")
                    break
                }
                ProgressDisplay.shared.advance(bar, done: trainer.steps)
                if case let .record(row) = history.last, let loss = row["loss"]?.number {
                    ProgressDisplay.shared.setDetail(bar, String(format: "loss %.4f  %.1f steps/s", loss, Double(trainer.steps) / (Double(trainingNanoseconds) / 1e9)))
                }
            }
            return .list(history)
        },
        Builtin("fit_trees", [.required("model", .model), .required("task", .task), .optional("steps", .int, .int(100)),
                              .optional("lr", .number, .float(0.01)), .optional("batch", .int, .int(8)),
                              .optional("neighbours", .int, .int(4)), .optional("seed", .optional(.int))],
                summary: "Treeformer bootstrap 1: fit a model's learned trees to route like its dense attention; one record per tree.",
                doc: """
                For transformer(..., attention="tf", "tc" or "tftc", split="learned") holding a trained dense \
                model's weights (load_weights(m, path, strict=false)). Every block mixes by dense \
                attention meanwhile; each tree starts as a PCA tree of a batch's keys, then `steps` Adam \
                steps (lr) move its hyperplane directions so that each query reaches the same nodes as \
                its `neighbours` strongest dense-attention keys (co-routing loss); offsets stay at the \
                median key score, so leaves stay balanced. Records: {tree, kept_before, kept_pca, \
                kept_after, keys_per_query}: the dense attention weight that falls on keys in the \
                query's own leaf (what TF keeps of dense attention; mean over queries of a held-out \
                batch) for the trees as they came, after the PCA start and after fitting. Then fit(m, \
                task) fine-tunes end to end with the trees in the loop (bootstrap 2).
                """) { args, interp in
            let model = try ModuleBuiltins.model(args), task = try TaskBuiltins.task(args)
            let steps = try args.int("steps"), batch = try args.int("batch"), neighbours = try args.int("neighbours"), lr = try args.double("lr")
            guard (0...1_000_000).contains(steps), (1...65_536).contains(batch), (1...4096).contains(neighbours), lr > 0, lr.isFinite else {
                throw BuiltinError(message: "fit_trees needs steps 0-1000000, batch 1-65536, neighbours 1-4096 and a positive lr")
            }
            let report = try TreeFitting.fit(model, task: task, steps: steps, lr: Float(lr), batchSize: batch, neighbours: neighbours,
                                             seed: try args.seed(interp))
            return .list(report.trees.indices.map { i in
                .record(Record([("tree", .string(report.trees[i])), ("kept_before", .float(report.before[i].attentionKept)),
                                ("kept_pca", .float(report.initialised[i].attentionKept)),
                                ("kept_after", .float(report.after[i].attentionKept)),
                                ("keys_per_query", .float(report.after[i].keysPerQuery))]))
            })
        },
        Builtin("predict", [.required("model", .model), .required("task", .task), .optional("n", .int, .int(4)),
                            .optional("seed", .int, .int(12345))],
                summary: "The model's predictions on n held-out examples, as a record of tensors with one row per example.",
                doc: "gp: context_x, context_y, target_x, target_y, mean, std (the predicted Gaussian). Token tasks: tokens, and for the scored positions targets and predicted (the most likely class). The examples are evaluate's for the same seed; retrieval is greedy.") { args, _ in
            let prediction = try Prediction(try ModuleBuiltins.model(args), on: try TaskBuiltins.task(args), examples: try args.int("n"),
                                            seed: UInt64(bitPattern: Int64(try args.int("seed"))))
            return .record(Record(prediction.fields.map { ($0.0, .tensor($0.1)) }))
        },
        Builtin("evaluate", [.required("model", .model), .required("task", .task), .optional("n", .int, .int(256)),
                             .optional("batch", .int, .int(64)), .optional("seed", .int, .int(12345))],
                summary: "Score the model on n held-out examples: {loss, accuracy or log_likelihood, tokens (per query), ms}.",
                doc: "The examples come from `seed`, so every model sees the same ones. Retrieval is greedy (no sampling) and no gradients are kept; ms is the forward time.") { args, _ in
            let model = try ModuleBuiltins.model(args), task = try TaskBuiltins.task(args)
            let n = try args.int("n"), batch = try args.int("batch")
            guard (1...1_000_000).contains(n), (1...65_536).contains(batch) else { throw BuiltinError(message: "`n` must be 1 to 1000000 and `batch` 1 to 65536") }
            let e = try Trainer.evaluate(model, on: task, examples: n, batchSize: batch, seed: UInt64(bitPattern: Int64(try args.int("seed"))))
            return .record(evaluation(e, metric: task.metric))
        },
    ]
}
