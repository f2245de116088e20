import AttnLang
import XCTest

final class EvaluatorTests: XCTestCase {
    func value(_ text: String) -> String {
        let result = runScript(text)
        XCTAssertTrue(result.ok, result.output)
        return lastLine(result.output)
    }

    func failure(_ text: String) -> String {
        let result = runScript(text)
        XCTAssertFalse(result.ok, "expected an error from: \(text)")
        return result.output
    }

    func testArithmeticAndTypes() {
        XCTAssertEqual(value("7 / 2"), "3.5")
        XCTAssertEqual(value("7 % 3 + -7 % 3"), "3")
        XCTAssertEqual(value("2 ** 10"), "1024")
        XCTAssertEqual(value("2 ** -1"), "0.5")
        XCTAssertEqual(value("1e-3 * 2"), "0.002")
        XCTAssertEqual(value("\"a\" + \"b\""), "\"ab\"")
        XCTAssertEqual(value("[1] + [2] * 2"), "[1, 2, 2]")
        XCTAssertEqual(value("1 < 2 and not (3 == 4)"), "true")
        XCTAssertEqual(value("0.1 + 0.2"), "0.3")
        XCTAssertEqual(value("3.0"), "3.0")
    }

    func testIntegerOverflowIsAnError() {
        XCTAssertTrue(failure("9223372036854775807 + 1").contains("integer overflow"))
        XCTAssertTrue(failure("2 ** 64").contains("integer overflow"))
        XCTAssertTrue(failure("1 / 0").contains("division by zero"))
    }

    func testFunctionsClosuresAndRecursion() {
        XCTAssertEqual(value("fn fib(n) { if n < 2 { return n }\n return fib(n - 1) + fib(n - 2) }\nfib(15)"), "610")
        XCTAssertEqual(value("fn adder(k) { return fn(x) => x + k }\nadd3 = adder(3)\nadd3(4)"), "7")
        XCTAssertEqual(value("fn f(a, b=2, c=a * 10) { return [a, b, c] }\nf(1, c=5)"), "[1, 2, 5]")
        XCTAssertEqual(value("f = fn(x) { y = x * 2\n return y }\nf(4)"), "8")
        XCTAssertEqual(value("x = 1\nfn g() { x = 5\n return x }\ng() + x"), "6")  // assignment is local to g
        XCTAssertEqual(value("[3, 1] |> fn(l) => l[0] - l[1]"), "2")
    }

    func testLoopsAndControlFlow() {
        XCTAssertEqual(value("s = 0\nfor i in range(10) { if i == 7 { break }\n if i % 2 == 0 { continue }\n s += i }\ns"), "9")
        XCTAssertEqual(value("n = 0\nwhile n < 5 { n += 2 }\nn"), "6")
        XCTAssertEqual(value("out = []\nfor c in \"ab\" { out = out + [c] }\nout"), "[\"a\", \"b\"]")
        XCTAssertEqual(value("range(10, 0, -3)"), "[10, 7, 4, 1]")
    }

    func testAssignmentIntoContainers() {
        XCTAssertEqual(value("l = [1, 2, 3]\nl[-1] = 9\nl"), "[1, 2, 9]")
        XCTAssertEqual(value("r = {a: {b: 1}}\nr.a.b = 2\nr.c = 3\nr"), "{a: {b: 2}, c: 3}")
        XCTAssertEqual(value("x = zeros(2, 2)\nx[1, 0] = 5\nsum(x)"), "5.0")
        XCTAssertEqual(value("a = [1]\nb = a\nb[0] = 2\na"), "[1]")  // lists are values
    }

    func testRuntimeErrorsPointAtTheExpression() {
        let out = failure("q = randn(4, 8)\nk = randn(5, 6)\ny = attention(q, k, k)")
        XCTAssertTrue(out.contains("t.attn:3:5: error: attention needs q and k with the same last dimension (shapes [4, 8] and [5, 6])"), out)
        XCTAssertTrue(out.contains("   |     ^" + String(repeating: "~", count: 17) + "\n"), out)
        let unknown = failure("x = 1\ny = atention(x)")
        XCTAssertTrue(unknown.contains("help: did you mean `attention`?"), unknown)
        let keyword = failure("attention(randn(2, 2), randn(2, 2), randn(2, 2), casual=true)")
        XCTAssertTrue(keyword.contains("has no keyword argument `casual`") && keyword.contains("did you mean `causal`?"), keyword)
        XCTAssertTrue(keyword.contains("1:50:"), keyword)  // the caret is on the keyword itself
    }

    func testErrorInsideFunctionShowsCallSite() {
        let out = failure("fn f(x) {\n  return x + \"s\"\n}\nf(1)")
        XCTAssertTrue(out.contains("t.attn:2:10: error: `+` is not defined for int and string"), out)
        XCTAssertTrue(out.contains("note: called from t.attn:4:1 (`f`)"), out)
    }

    func testRecursionLimitIsAnErrorNotACrash() {
        let out = failure("fn down(n) { return down(n + 1) }\ndown(0)")
        XCTAssertTrue(out.contains("recursion too deep"), out)
    }

    func testMemoryLimitIsAnError() {
        XCTAssertTrue(failure("zeros(100000, 100000, 10)").contains("over the memory limit"))
        XCTAssertTrue(failure("range(10000000000000)").contains("over the memory limit"))
        XCTAssertTrue(failure("randn(-1, 3)").contains("cannot be negative"))
    }

    func testFmaPeakIsARateAndChecksItsArguments() {
        let run = runScript("r = fma_peak(ms=5, threads=1)\nprint(type(r), r > 0)")
        XCTAssertTrue(run.ok, run.output)
        XCTAssertEqual(lastLine(run.output), "float true")
        XCTAssertTrue(failure("fma_peak(threads=0)").contains("needs 1 <= threads"))
        XCTAssertTrue(failure("fma_peak(threads=100000)").contains("needs 1 <= threads"))
        XCTAssertTrue(failure("fma_peak(ms=0)").contains("needs 0 < ms"))
        XCTAssertTrue(failure("fma_peak(ms=\"a\")").contains("expects number for `ms`"))
    }

    func testSizeRulesCallFunctionsWithN() throws {
        let interpreter = Interpreter(output: Transcript())
        XCTAssertEqual(try interpreter.resolveSize(.int(7), n: 100, name: "depth"), 7)
        XCTAssertEqual(try interpreter.resolveSize(interpreter.lookup("log2")!, n: 1024, name: "depth"), 10)
        XCTAssertEqual(try interpreter.resolveSize(interpreter.lookup("sqrt")!, n: 4096, name: "leaf"), 64)
        XCTAssertThrowsError(try interpreter.resolveSize(.string("x"), n: 4, name: "depth"))
    }

    func testSameScriptSameOutput() {
        let script = "seed(3)\nx = randn(50, 8)\nprint(sum(x), x[7, 3])\nattention(x, x, x, causal=true)"
        XCTAssertEqual(runScript(script).output, runScript(script).output)
        XCTAssertNotEqual(runScript("randn(3)").output, runScript("seed(1)\nrandn(3)").output)
    }
}
