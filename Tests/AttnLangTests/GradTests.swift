import XCTest

/// `grad` from scripts: results are checked in Tests/golden/38_grad.attn; here, the errors.
final class GradTests: XCTestCase {
    func expectError(_ script: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let (ok, output) = runScript("x = randn(4, 3, seed=1)\n" + script)
        XCTAssertFalse(ok, file: file, line: line)
        XCTAssertTrue(output.contains(message), output, file: file, line: line)
    }

    func testErrorsAreClear() {
        expectError("grad(fn(v) => v * 2, x)", "`grad` needs f to return a scalar, got a tensor of shape [4, 3]")
        expectError("grad(fn(v) => sum(v > 0), x)", "`>` is not differentiable for tensor and int inside `grad`")
        expectError("grad(fn(v) => sum(v, axis=0), x)", "inside `grad`, `sum` reduces the whole tensor (no axis=)")
        expectError("grad(fn(v) => \"no\", x)", "`grad` needs f to return a number computed from its arguments, got string")
        expectError("grad(fn(v) => sum(v[0]), x)", "indexing a tensor tracked by `grad` is not differentiable")
        expectError("grad(fn(v) => sum(grad(fn(u) => sum(u), v)), x)", "`grad` inside `grad` (higher derivatives) is not supported")
        expectError("grad(fn(v) => sum(v), [x, 3])", "the list holds a int")
        expectError("grad(fn(a, b) => sum(a @ b), [x, x])", "inner dimensions")
    }

    func testPassiveBuiltinsSeeTheValue() {
        let (ok, output) = runScript("x = randn(4, 3, seed=1)\ng = grad(fn(v) { print(shape(v), type(v)); return sum(v * v) }, x)\nrelerr(g, 2 * x)\n")
        XCTAssertTrue(ok, output)
        XCTAssertEqual(output, "[4, 3] tensor\n0.0\n")
    }
}
