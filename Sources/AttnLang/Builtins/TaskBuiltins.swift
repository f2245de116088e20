import AttnKernels

// Seeded synthetic tasks for fit/evaluate, and `sample` to look at their batches.
enum TaskBuiltins {
    static func task(_ args: Arguments) throws -> any TrainingTask {
        guard case let .task(t) = args["task"] else { throw BuiltinError(message: "`task` must be a task, got \(args["task"].typeName)") }
        return t
    }

    static let all: [Builtin] = [
        Builtin("gp", [.optional("context", .int, .int(64)), .optional("targets", .int, .int(64)),
                       .optional("length_min", .number, .float(0.1)), .optional("length_max", .number, .float(0.6)),
                       .optional("noise", .number, .float(0.02))],
                summary: "1-D Gaussian-process regression (RBF kernel, random length scale): context points to read, targets to predict.",
                doc: "Inputs are uniform in [-2, 2]; the length scale is uniform in [length_min, length_max], the output scale in [0.1, 1]. The metric is the targets' mean log-likelihood (higher is better), as in the Neural Process papers.") { args, _ in
            .task(try GaussianProcessTask(context: try args.int("context"), targets: try args.int("targets"),
                                          lengthMin: try args.double("length_min"), lengthMax: try args.double("length_max"),
                                          noise: try args.double("noise")))
        },
        Builtin("copy_task", [.optional("len", .int, .int(16)), .optional("vocab", .int, .int(8))],
                summary: "The copy task: `len` random symbols, a separator, then the model writes them again (accuracy on the copy).") { args, _ in
            .task(try CopyTask(length: try args.int("len"), vocab: try args.int("vocab")))
        },
        Builtin("recall", [.optional("pairs", .int, .int(8)), .optional("keys", .int, .int(16)), .optional("values", .int, .int(8))],
                summary: "Associative recall: key-value pairs, a separator and a key; the model outputs that key's value.") { args, _ in
            .task(try RecallTask(pairs: try args.int("pairs"), keys: try args.int("keys"), values: try args.int("values")))
        },
        Builtin("listops", [.optional("length", .int, .int(64)), .optional("depth", .int, .int(3)), .optional("args", .int, .int(4))],
                summary: "A small ListOps: nested MAX/MIN/MED/SM expressions over digits, padded to `length`; 10 classes.") { args, _ in
            .task(try ListOpsTask(length: try args.int("length"), depth: try args.int("depth"), arguments: try args.int("args")))
        },
        Builtin("majority", [.optional("length", .int, .int(64)), .optional("vocab", .int, .int(10))],
                summary: "A bag-of-tokens task: the class is the most frequent of `vocab` symbols (token order carries nothing).",
                doc: "Each sequence draws its symbol probabilities from a flat Dirichlet, so the top two counts are often close; ties go to the smallest symbol. A control for models that only pool global statistics (ToST), where ListOps needs routing between positions.") { args, _ in
            .task(try MajorityTask(length: try args.int("length"), vocab: try args.int("vocab")))
        },
        Builtin("sample", [.required("task", .task), .optional("n", .int, .int(4)), .optional("seed", .optional(.int))],
                summary: "n examples of a task as a record of tensors (tokens/targets, or context_x/y and target_x/y), one row each.") { args, interp in
            let n = try args.int("n")
            guard (1...4096).contains(n) else { throw BuiltinError(message: "`n` must be 1 to 4096, got \(n)") }
            var rng = Xoshiro256(seed: try args.seed(interp))
            return .record(Record(try task(args).checkedBatch(size: n, rng: &rng).tensors().map { ($0.0, .tensor($0.1)) }))
        },
    ]
}
