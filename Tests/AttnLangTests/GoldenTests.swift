import AttnLang
import Foundation
import XCTest

/// The golden scripts in Tests/golden run here too, so `swift test` checks them.
final class GoldenTests: XCTestCase {
    func testGoldenScripts() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("golden").path
        XCTAssertGreaterThanOrEqual(Golden.scripts(in: directory).count, 30)
        var log = ""
        let report = Golden.check(directory: directory, bless: false) { log += $0 }
        XCTAssertEqual(report.failed, 0, log)
        XCTAssertGreaterThanOrEqual(report.passed, 30)
    }

    func testUnifiedDiff() {
        let diff = UnifiedDiff.render("a\nb\nc\n", "a\nB\nc\n", from: "old", to: "new")
        XCTAssertEqual(diff, "--- old\n+++ new\n@@ -1,4 +1,4 @@\n a\n-b\n+B\n c\n \n")
        XCTAssertEqual(UnifiedDiff.render("same", "same", from: "a", to: "b"), "")
    }
}
