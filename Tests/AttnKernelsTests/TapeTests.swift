import AttnKernels
import XCTest

/// Every differentiable operation against central finite differences of the same forward, on
/// small odd shapes. The loss contracts the output with a fixed random tensor so that every
/// output element's gradient matters.
final class TapeTests: XCTestCase {
    typealias Build = (Tape, [Tape.Variable]) throws -> Tape.Variable

    /// sum(build(...) * weights) on a fresh tape.
    func loss(_ inputs: [Tensor], _ build: Build) throws -> (Tape, [Tape.Variable], Tape.Variable) {
        let tape = Tape()
        let leaves = inputs.map { tape.leaf($0) }
        let out = try build(tape, leaves)
        let weights = tape.leaf(try random(tape.value(out).shape, seed: 777))
        return (tape, leaves, try tape.sum(try tape.multiply(out, weights)))
    }

    func check(_ name: String, _ inputs: [Tensor], tolerance: Float = 2e-2, _ build: @escaping Build) throws {
        let (tape, leaves, total) = try loss(inputs, build)
        let gradients = try tape.gradients(of: total)
        let eps: Float = 1e-2
        for (which, input) in inputs.enumerated() {
            let analytic = try XCTUnwrap(gradients[leaves[which]], "\(name): no gradient for input \(which)")
            XCTAssertEqual(analytic.shape, input.shape)
            for i in 0..<input.count {
                var shifted = inputs
                shifted[which].data[i] += eps
                let up = try loss(shifted, build)
                shifted[which].data[i] -= 2 * eps
                let down = try loss(shifted, build)
                let numeric = (up.0.value(up.2).data[0] - down.0.value(down.2).data[0]) / (2 * eps)
                let error = abs(numeric - analytic.data[i]) / max(1, abs(numeric))
                if error > tolerance {
                    return XCTFail("\(name): input \(which)[\(i)]: analytic \(analytic.data[i]), numeric \(numeric)")
                }
            }
        }
    }

    func testElementwiseAndReductions() throws {
        let a = try random([3, 5], seed: 1), b = try random([3, 5], seed: 2), bias = try random([5], seed: 3)
        try check("add", [a, b]) { t, v in try t.add(v[0], v[1]) }
        try check("add bias", [a, bias]) { t, v in try t.add(v[0], v[1]) }
        try check("multiply", [a, b]) { t, v in try t.multiply(v[0], v[1]) }
        try check("scale", [a]) { t, v in t.scale(v[0], by: -2.5) }
        try check("tanh", [a]) { t, v in t.tanh(v[0]) }
        try check("exp", [a]) { t, v in t.exp(v[0]) }
        try check("softmax", [a]) { t, v in try t.softmax(v[0]) }
        try check("mean", [a]) { t, v in try t.mean(v[0]) }
        try check("mse", [a]) { t, v in try t.meanSquaredError(v[0], target: b) }
        // relu's kink: inputs away from zero, so the difference quotient is defined.
        let away = try a.map(.abs).scalarOp(.add, 0.1).binary(.mul, b.map(.sin).map(.floor).scalarOp(.mul, 2).scalarOp(.add, 1))
        try check("relu", [away]) { t, v in t.relu(v[0]) }
    }

    func testMatmulAndAttention() throws {
        try check("matmul", [try random([3, 7], seed: 4), try random([7, 2], seed: 5)]) { t, v in try t.matmul(v[0], v[1]) }
        let q = try random([5, 6], seed: 6), k = try random([7, 6], seed: 7), v = try random([7, 4], seed: 8)
        try check("attention", [q, k, v]) { t, x in try t.attention(x[0], x[1], x[2], options: AttentionOptions(heads: 2)) }
        let s = try random([6, 3], seed: 9)
        try check("causal attention", [s, s.scalarOp(.mul, 0.5), s]) { t, x in try t.attention(x[0], x[1], x[2], options: AttentionOptions(causal: true)) }
    }

    /// A small encoder-like composition: gradients flow through every path and add up where a
    /// variable is used twice (x feeds q, k, v and the residual).
    func testCompositionAndReuse() throws {
        let x = try random([6, 4], seed: 10), w = try random([4, 4], seed: 11).scalarOp(.mul, 0.5), bias = try random([4], seed: 12)
        try check("block", [x, w, bias]) { t, v in
            let h = try t.add(try t.matmul(v[0], v[1]), v[2])
            let mixed = try t.attention(h, h, v[0])
            return try t.add(t.tanh(mixed), v[0])
        }
    }

    func testLossMustBeScalarAndUnusedInputsHaveNoGradient() throws {
        let tape = Tape()
        let a = tape.leaf(try random([2, 2], seed: 1)), unused = tape.leaf(try random([2], seed: 2))
        XCTAssertThrowsError(try tape.gradients(of: a))
        let grads = try tape.gradients(of: try tape.sum(a))
        XCTAssertEqual(grads[a]?.data, [1, 1, 1, 1])
        XCTAssertNil(grads[unused])
        XCTAssertThrowsError(try tape.add(a, tape.leaf(try random([3], seed: 3))))
    }
}
