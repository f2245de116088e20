import Foundation

/// A model's named parameters, in the order they were created (the order of `params(m)`, of
/// the optimizer's state and of the safetensors file).
public struct ParameterStore: Sendable {
    public private(set) var names: [String] = []
    public private(set) var tensors: [String: Tensor] = [:]

    public init() {}

    public var count: Int { tensors.values.reduce(0) { $0 + $1.count } }

    public subscript(name: String) -> Tensor? { tensors[name] }

    mutating func add(_ name: String, _ tensor: Tensor) {
        if tensors[name] == nil { names.append(name) }
        tensors[name] = tensor
    }

    /// Replaces a parameter's value; the shape must not change.
    public mutating func set(_ name: String, _ tensor: Tensor) throws {
        guard let old = tensors[name] else { throw KernelError.invalidArgument("the model has no parameter `\(name)`") }
        guard old.shape == tensor.shape else {
            throw KernelError.shapeMismatch("parameter `\(name)` has a different shape", old.shape, tensor.shape)
        }
        tensors[name] = tensor
    }

    /// Leaves on `tape` for every parameter, for one forward and backward pass.
    public func bind(to tape: Tape) -> BoundParameters {
        var variables = [String: Tape.Variable]()
        for name in names { if let t = tensors[name] { variables[name] = tape.leaf(t) } }
        return BoundParameters(tape: tape, variables: variables)
    }
}

/// The parameters of one pass, as variables on its tape.
public struct BoundParameters {
    public let tape: Tape
    public let variables: [String: Tape.Variable]

    func callAsFunction(_ name: String) throws -> Tape.Variable {
        guard let v = variables[name] else { throw KernelError.invalidArgument("internal: no parameter `\(name)`") }
        return v
    }

    /// Gradients by parameter name (zero for parameters the loss did not use).
    public func gradients(of loss: Tape.Variable) throws -> [String: Tensor] {
        let all = try tape.gradients(of: loss)
        var result = [String: Tensor]()
        for (name, variable) in variables { result[name] = try all[variable] ?? Tensor(zeros: tape.value(variable).shape) }
        return result
    }
}
