import AttnLang
import Foundation
import XCTest

/// The documentation stays true to the registry: every builtin is documented.
final class DocsTests: XCTestCase {
    func testEveryBuiltinIsInTheLanguageReference() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let reference = try String(contentsOf: root.appendingPathComponent("docs/language.md"), encoding: .utf8)
        for (name, builtin) in Registry.builtins {
            XCTAssertTrue(reference.contains("`\(builtin.signature)`"), "docs/language.md lacks the signature of `\(name)`: \(builtin.signature)")
            XCTAssertFalse(builtin.summary.isEmpty, "`\(name)` has no summary")
        }
    }
}
