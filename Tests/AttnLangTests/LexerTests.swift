@testable import AttnLang
import XCTest

final class LexerTests: XCTestCase {
    func kinds(_ text: String) -> [TokenKind] {
        Lexer.tokenize(SourceFile(name: "t", text: text)).tokens.map(\.kind)
    }

    func testTokens() {
        XCTAssertEqual(kinds("x = 1e-3 |> f(a, k=2) # comment"), [
            .identifier("x"), .symbol(.assign), .float(0.001), .symbol(.pipe), .identifier("f"), .symbol(.leftParen),
            .identifier("a"), .symbol(.comma), .identifier("k"), .symbol(.assign), .int(2), .symbol(.rightParen), .eof,
        ])
        XCTAssertEqual(kinds("a ** -b @ c <= d != e => fn"), [
            .identifier("a"), .symbol(.power), .symbol(.minus), .identifier("b"), .symbol(.at), .identifier("c"),
            .symbol(.lessEqual), .identifier("d"), .symbol(.notEqual), .identifier("e"), .symbol(.arrow), .keyword(.fn), .eof,
        ])
        XCTAssertEqual(kinds(#""a\tb\n\"q\"" 'it\'s'"#), [.string("a\tb\n\"q\""), .string("it's"), .eof])
        XCTAssertEqual(kinds("1_000 2.5 .5 3."), [.int(1000), .float(2.5), .float(0.5), .float(3), .eof])
    }

    func testNewlinesAreAlwaysTokensAndLineContinuationsAreNot() {
        XCTAssertEqual(kinds("f(1,\n2)\n"), [.identifier("f"), .symbol(.leftParen), .int(1), .symbol(.comma), .newline, .int(2), .symbol(.rightParen), .newline, .eof])
        XCTAssertEqual(kinds("a + \\\nb"), [.identifier("a"), .symbol(.plus), .identifier("b"), .eof])
    }

    func testErrorsCarryPositions() {
        let file = SourceFile(name: "t", text: "x = 1\ny = \"open\nz = 3 $ 4\nw = 12abc\nv = 1e\nu = 99999999999999999999")
        XCTAssertEqual(locatedMessages(Lexer.tokenize(file).diagnostics, in: file), [
            "2:5 unterminated string",
            "3:7 unexpected character `$`",
            "4:5 malformed number `12abc`",
            "5:5 malformed number `1e`",
            "6:5 integer `99999999999999999999` is too large (the limit is 9223372036854775807)",
        ])
    }

    func testOpenBrackets() {
        XCTAssertEqual(Lexer.openBrackets(in: "fn f(x) {"), 1)
        XCTAssertEqual(Lexer.openBrackets(in: "f([1, 2"), 2)
        XCTAssertEqual(Lexer.openBrackets(in: "\"{\" + g(1)"), 0)
    }
}
