@testable import AttnLang
import XCTest

final class ParserTests: XCTestCase {
    /// A compact rendering of an expression tree, for checking precedence.
    func shape(_ e: Expr) -> String {
        switch e.kind {
        case let .int(i): return "\(i)"
        case let .float(f): return "\(f)"
        case let .name(n): return n
        case let .string(s): return "'\(s)'"
        case let .unary(op, x): return "(\(op.rawValue) \(shape(x)))"
        case let .binary(op, a, b): return "(\(shape(a)) \(op.rawValue) \(shape(b)))"
        case let .logical(op, a, b): return "(\(shape(a)) \(op.rawValue) \(shape(b)))"
        case let .call(callee, args):
            return shape(callee) + "(" + args.map { ($0.label.map { $0 + "=" } ?? "") + shape($0.value) }.joined(separator: ", ") + ")"
        case let .member(base, name, _): return shape(base) + "." + name
        case let .index(base, items): return shape(base) + "[\(items.count)]"
        case let .list(items): return "[" + items.map(shape).joined(separator: ", ") + "]"
        default: return "?"
        }
    }

    func parseExpression(_ text: String) -> String {
        let (statements, diagnostics) = Parser.parse(SourceFile(name: "t", text: text))
        XCTAssertEqual(diagnostics.map(\.message), [], text)
        guard case let .expression(e)? = statements.first?.kind else { return "not an expression" }
        return shape(e)
    }

    func testPrecedence() {
        XCTAssertEqual(parseExpression("1 + 2 * 3 - 4"), "((1 + (2 * 3)) - 4)")
        XCTAssertEqual(parseExpression("-2 ** 2"), "(- (2 ** 2))")
        XCTAssertEqual(parseExpression("2 ** 3 ** 2"), "(2 ** (3 ** 2))")
        XCTAssertEqual(parseExpression("a @ b * c"), "((a @ b) * c)")
        XCTAssertEqual(parseExpression("not a == b and c or d"), "(((not (a == b)) and c) or d)")
        XCTAssertEqual(parseExpression("x |> f(2) |> g"), "g(f(x, 2))")
        XCTAssertEqual(parseExpression("a + b |> f"), "f((a + b))")
        XCTAssertEqual(parseExpression("tca(q, t, depth=log).tokens"), "tca(q, t, depth=log).tokens")
        XCTAssertEqual(parseExpression("x[0:16, :][1]"), "x[2][1]")
    }

    func testErrorRecoveryReportsEveryBadStatementAtItsPosition() {
        let file = SourceFile(name: "t", text: "a = (1 +\nb = 2\nc = * 3\nd = [1, 2\nfn f(x) { return x + }\ne = 5 6\n1 = 2\n")
        let (statements, diagnostics) = Parser.parse(file)
        XCTAssertEqual(locatedMessages(diagnostics, in: file), [
            "2:3 expected `)` to close `(`, found `=`",
            "3:5 expected an expression, found `*`",
            "5:1 expected `]` to close the list, found keyword `fn`",
            "5:22 expected an expression, found `}`",
            "6:7 expected end of statement, found number `6`",
            "7:1 cannot assign to this expression",
        ])
        // Only the function survives: the error in its body was recovered inside the block.
        XCTAssertEqual(statements.count, 1)
        if case let .function(decl)? = statements.first?.kind { XCTAssertEqual(decl.name, "f") } else { XCTFail("expected fn f") }
    }

    func testGoodStatementsSurviveAroundBadOnes() {
        let (statements, diagnostics) = Parser.parse(SourceFile(name: "t", text: "x = 1\ny = )\nz = 3\n"))
        XCTAssertEqual(diagnostics.count, 1)
        XCTAssertEqual(statements.count, 2)
    }

    func testNestingTooDeepIsAnErrorNotACrash() {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        let (_, diagnostics) = LargeStack.run { Parser.parse(SourceFile(name: "t", text: deep)) }
        XCTAssertEqual(diagnostics.map(\.message), ["nesting too deep (more than 200 levels)"])
        let deepBlocks = String(repeating: "if true {", count: 3000)
        XCTAssertTrue(LargeStack.run { Parser.parse(SourceFile(name: "t", text: deepBlocks)) }.diagnostics.contains { $0.message.hasPrefix("nesting too deep") })
    }

    func testControlFlowPlacement() {
        let (_, diagnostics) = Parser.parse(SourceFile(name: "t", text: "break\nreturn 1\nfn f() { for i in [1] { fn g() { continue } } }\n"))
        XCTAssertEqual(diagnostics.map(\.message), ["`break` outside a loop", "`return` outside a function", "`continue` outside a loop"])
    }

    func testMultilineForms() {
        let text = "r = {\n  a: 1,\n  b: [1,\n 2],\n}\nif r.a == 1 {\n  x = 1\n}\nelse {\n  x = 2\n}\ny = 1 +\n  2\n"
        let (statements, diagnostics) = Parser.parse(SourceFile(name: "t", text: text))
        XCTAssertEqual(diagnostics.map(\.message), [])
        XCTAssertEqual(statements.count, 3)
    }
}

final class ParserLayoutTests: XCTestCase {
    func testNewlinesInsideBracketsAndBlocksInsideCalls() {
        let text = "y = f(1,\n  2,\n  k=3)\nz = [1,\n 2][0]\nt = time(fn() {\n  a = 1\n  b = 2\n})\n"
        let (statements, diagnostics) = Parser.parse(SourceFile(name: "t", text: text))
        XCTAssertEqual(diagnostics.map(\.message), [])
        XCTAssertEqual(statements.count, 3)
    }

    func testUnclosedParenthesisRecoversAtTheNextLine() {
        let (statements, diagnostics) = Parser.parse(SourceFile(name: "t", text: "a = f(1,\nb = 2\nc = 3\n"))
        XCTAssertEqual(diagnostics.count, 1)
        XCTAssertEqual(statements.count, 1)  // c = 3
    }
}
