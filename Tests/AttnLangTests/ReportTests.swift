import AttnLang
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// Reports as files: the HTML notebook must be well-formed XHTML with one SVG per plot or
/// heatmap and one table per `table`; CSV must quote what needs quoting.
final class ReportTests: XCTestCase {
    func temporaryFile(_ name: String, _ text: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("attn-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Counts elements by local name while parsing; fails the test on any XML error.
    final class ElementCounter: NSObject, XMLParserDelegate {
        var counts = [String: Int]()
        var texts = [String]()
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            counts[name, default: 0] += 1
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { texts.append(string) }
    }

    func testHTMLReportIsWellFormedWithOneSVGPerFigure() throws {
        let script = try temporaryFile("demo.attn", """
        x = randn(16, 4, seed=1)
        ## Table <&> "quotes"
        table([{op: "a<b", n: 1}, {op: "c&d", n: 2}])
        ## Plots
        plot([1, 2, 4], [3, 1, 2], y="series & more", title="t <1>")
        plot([{n: 1, a: 1, b: 2}, {n: 2, a: 3, b: 1}], logy=true)
        heatmap(weights(x, x))
        ## Text
        print("1 < 2 & 3 > 2")
        """)
        let reportPath = script + ".html"
        let status = NotebookRunner.run(path: script, output: Transcript(), reportPath: reportPath, format: .html, version: "test")
        XCTAssertEqual(status, .success)
        let data = try XCTUnwrap(FileManager.default.contents(atPath: reportPath))
        let parser = XMLParser(data: data)
        let counter = ElementCounter()
        parser.delegate = counter
        XCTAssertTrue(parser.parse(), "not well-formed: \(String(describing: parser.parserError))")
        XCTAssertEqual(counter.counts["svg"], 3)
        XCTAssertEqual(counter.counts["table"], 1)
        XCTAssertEqual(counter.counts["section"], 4)  // the untitled first cell and three titled ones
        XCTAssertEqual(counter.counts["script"], nil, "a report needs no scripts")
        let text = counter.texts.joined()
        XCTAssertTrue(text.contains("1 < 2 & 3 > 2"), "escaped text must read back as written")
        XCTAssertTrue(text.contains("Table <&> \"quotes\""))
        let html = String(decoding: data, as: UTF8.self)
        XCTAssertFalse(html.contains("http://") && html.contains("<link"), "a report must not load anything")
    }

    func testMarkdownReportKeepsCellsAndMarksUnrunOnes() throws {
        let script = try temporaryFile("fails.attn", "## one\nprint(1)\n## two\nnope\n## three\nprint(3)\n")
        guard let (status, notebook) = NotebookRunner.record(path: script, displayName: "fails.attn", output: nil) else { return XCTFail("not run") }
        XCTAssertEqual(status, .languageError)
        XCTAssertEqual(notebook.cells.map(\.title), ["one", "two", "three"])
        XCTAssertEqual(notebook.cells.map(\.ran), [true, true, false])
        let markdown = ReportWriter.render(notebook, format: .markdown, version: nil)
        XCTAssertTrue(markdown.contains("**error**\n\n```text\nfails.attn:4:1: error: unknown name `nope`"), markdown)
        XCTAssertTrue(markdown.contains("## three\n\n```attn\nprint(3)\n```\n\n*not run: an earlier cell failed*"), markdown)
    }

    func testCSVQuotesFieldsThatNeedIt() throws {
        let path = try temporaryFile("out.csv", "")
        let (ok, output) = runScript("csv([{a: \"x, y\", b: 1.5}, {a: \"say \\\"hi\\\"\", c: true}], \"\(path)\")")
        XCTAssertTrue(ok, output)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "a,b,c\n\"x, y\",1.5,\n\"say \"\"hi\"\"\",,true\n")
    }

    func testPlotErrorsAreClear() {
        XCTAssertTrue(runScript("plot([1, 2], [1, 0], logy=true)").output.contains("logy needs positive y values, found 0"))
        XCTAssertTrue(runScript("plot([1, 2], [1])").output.contains("plot needs xs and ys of the same length, got 2 and 1"))
        XCTAssertTrue(runScript("plot([{n: 1, a: 2}], y=\"b\")").output.contains("plot rows have no field `b`"))
        XCTAssertTrue(runScript("heatmap(randn(2, 2, 2))").output.contains("heatmap needs a non-empty 2-D tensor"))
        XCTAssertTrue(runScript("plot([])").output.contains("plot has no points to draw"))
    }
}
