import Foundation

// Reverse-mode automatic differentiation at run time. Scripts are interpreted, so derivatives
// come from a tape: every operation on tape variables appends its result and a backward rule;
// `gradients(of:)` walks the tape once in reverse, each rule adding its inputs' share of the
// upstream gradient. The walk is sequential and each rule's arithmetic has a fixed order, so
// gradients are as deterministic as the forward kernels.
public final class Tape {
    /// A handle to a value on this tape.
    public struct Variable: Hashable, Sendable {
        public let id: Int
    }

    /// Adds `upstream`'s contribution to the gradients of the rule's inputs.
    typealias Rule = (_ upstream: Tensor, _ accumulate: (Variable, Tensor) throws -> Void) throws -> Void

    private var values: [Tensor] = []
    private var rules: [Rule?] = []

    public init() {}

    public var count: Int { values.count }

    /// A value gradients flow to (an input or a parameter); it has no backward rule.
    public func leaf(_ value: Tensor) -> Variable {
        record(value, rule: nil)
    }

    public func value(_ variable: Variable) -> Tensor { values[variable.id] }

    func record(_ value: Tensor, rule: Rule?) -> Variable {
        values.append(value)
        rules.append(rule)
        return Variable(id: values.count - 1)
    }

    /// d loss / d v for every variable v that loss depends on; `loss` must hold one element.
    public func gradients(of loss: Variable) throws -> [Variable: Tensor] {
        guard values[loss.id].count == 1 else {
            throw KernelError.invalidArgument("gradients need a scalar loss, got shape \(formatShape(values[loss.id].shape))")
        }
        var grads = [Tensor?](repeating: nil, count: loss.id + 1)
        grads[loss.id] = try Tensor(shape: values[loss.id].shape, repeating: 1)
        for id in stride(from: loss.id, through: 0, by: -1) {
            guard let upstream = grads[id], let rule = rules[id] else { continue }
            try Cancellation.check()
            try rule(upstream) { input, contribution in
                guard contribution.shape == self.values[input.id].shape else {
                    throw KernelError.shapeMismatch("internal: a backward rule produced a gradient of the wrong shape", contribution.shape, self.values[input.id].shape)
                }
                if var existing = grads[input.id] {
                    grads[input.id] = nil  // so that `existing` holds the only reference and adds in place
                    try existing.add(contribution)
                    grads[input.id] = existing
                } else {
                    grads[input.id] = contribution
                }
            }
        }
        var result = [Variable: Tensor]()
        for (id, gradient) in grads.enumerated() { if let gradient { result[Variable(id: id)] = gradient } }
        return result
    }
}
