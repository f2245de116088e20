import Foundation

/// What one forward pass over a task batch produced.
public struct PassResult {
    public var loss: Tape.Variable
    /// Sum and count of the task metric (correct predictions, or target log-likelihoods).
    public var metricSum: Double
    public var metricCount: Int
    /// Mean context tokens each query attended to (for attention-efficiency reporting).
    public var tokensPerQuery: Double
    /// The head's output for the scored rows (class logits, or Gaussian mean and raw scale),
    /// for `predict`.
    public var outputs: Tape.Variable? = nil
}

/// A model's structure; its weights live in the Model's ParameterStore.
public protocol Architecture: Sendable {
    /// The constructor's name in scripts (`linear`, `transformer`, `retreever`...).
    var kind: String { get }
    /// The configuration, for printing.
    var summary: String { get }
    /// Throws a clear error when the model cannot run this task.
    func check(_ task: TrainingTask) throws
    func pass(_ batch: TaskBatch, _ p: BoundParameters, training: Bool, rng: inout Xoshiro256) throws -> PassResult
    /// For modules that map a tensor to a tensor (linear, mlp, layernorm, embed).
    func apply(_ input: Tensor, _ p: BoundParameters) throws -> Tape.Variable
}

extension Architecture {
    public func check(_ task: TrainingTask) throws {
        throw KernelError.invalidArgument("a \(kind) module is a building block, not a model for a task; use transformer(...) or retreever(...)")
    }
    public func pass(_ batch: TaskBatch, _ p: BoundParameters, training: Bool, rng: inout Xoshiro256) throws -> PassResult {
        throw KernelError.invalidArgument("a \(kind) module cannot be trained on a task")
    }
    public func apply(_ input: Tensor, _ p: BoundParameters) throws -> Tape.Variable {
        throw KernelError.invalidArgument("a \(kind) model takes a task (fit/evaluate), not a tensor")
    }
}

/// A model: its architecture and its weights. A reference type, as in PyTorch: `fit` trains it
/// in place, and every name bound to it sees the new weights.
public final class Model: @unchecked Sendable {
    public let architecture: Architecture
    public var parameters: ParameterStore

    public init(_ architecture: Architecture, parameters: ParameterStore) {
        self.architecture = architecture
        self.parameters = parameters
    }

    /// The module applied to a tensor, without recording gradients for later use.
    public func apply(_ input: Tensor) throws -> Tensor {
        let p = parameters.bind(to: Tape())
        return p.tape.value(try architecture.apply(input, p))
    }

    /// Replaces weights by name, all or nothing. Strict: every parameter must be given with its
    /// shape and no other name. Not strict: names the model lacks are skipped and parameters not
    /// given keep their values (shapes must still match).
    @discardableResult
    public func load(_ tensors: [(String, Tensor)], strict: Bool = true) throws -> (loaded: Int, missing: [String], unexpected: [String]) {
        var updated = parameters
        let given = Set(tensors.map { $0.0 })
        let missing = parameters.names.filter { !given.contains($0) }
        var unexpected = [String](), loaded = 0
        for (name, tensor) in tensors {
            guard parameters[name] != nil else {
                if strict { throw KernelError.invalidArgument("the file has a tensor `\(name)` that the model does not have") }
                unexpected.append(name)
                continue
            }
            try updated.set(name, tensor)
            loaded += 1
        }
        if strict, let first = missing.first {
            throw KernelError.invalidArgument("the file lacks \(missing.count) of the model's parameters, e.g. `\(first)`")
        }
        parameters = updated
        return (loaded, missing, unexpected)
    }
}
