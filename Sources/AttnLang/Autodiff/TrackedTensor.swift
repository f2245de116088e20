import AttnKernels

/// A tensor recorded on a tape while `grad(f, ...)` runs f. Operators and the differentiable
/// builtins record their work on the tape; anything else refuses it with an error, so a
/// gradient is never silently cut.
public final class TrackedTensor {
    let tape: Tape
    let variable: Tape.Variable

    init(tape: Tape, variable: Tape.Variable) {
        self.tape = tape
        self.variable = variable
    }

    var value: Tensor { tape.value(variable) }

    func wrap(_ variable: Tape.Variable) -> Value { .tracked(TrackedTensor(tape: tape, variable: variable)) }
}
