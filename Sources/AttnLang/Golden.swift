import Foundation

// Golden-output tests: every NAME.attn in a folder runs in a fresh interpreter and its
// transcript (stdout and stderr, in order) must equal NAME.out exactly. A script with cells
// (`## title` lines) also has its Markdown report checked against NAME.report.md, with the
// header's date, version, machine and time written as "(varies)". `bless` rewrites them.
public enum Golden {
    public struct Report {
        public var passed = 0
        public var failed = 0
        public var failures: [String] = []
    }

    public static func scripts(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".attn") }.sorted()
    }

    public static func transcript(of path: String) -> String {
        let sink = Transcript()
        _ = ScriptRunner.run(path: path, displayName: (path as NSString).lastPathComponent, output: sink)
        return sink.text
    }

    /// The Markdown report of a script with cells; nil for a script without any.
    public static func markdownReport(of path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              text.split(separator: "\n").contains(where: { Cells.heading($0) != nil }),
              let (_, notebook) = NotebookRunner.record(path: path, displayName: (path as NSString).lastPathComponent, output: nil)
        else { return nil }
        return ReportWriter.render(notebook, format: .markdown, version: nil)
    }

    /// Checks (or blesses) every script; `log` receives diffs and the final summary line.
    public static func check(directory: String, bless: Bool, log: (String) -> Void) -> Report {
        var report = Report()
        for name in scripts(in: directory) {
            let script = (directory as NSString).appendingPathComponent(name)
            let base = String(script.dropLast(".attn".count))
            var expectations = [(base + ".out", transcript(of: script))]
            if let markdown = markdownReport(of: script) { expectations.append((base + ".report.md", markdown)) }
            var ok = true
            for (expectedPath, actual) in expectations {
                ok = compare(name: name, expectedPath: expectedPath, actual: actual, bless: bless, log: log) && ok
            }
            if ok {
                report.passed += 1
            } else {
                report.failed += 1
                report.failures.append(name)
            }
        }
        log("\(report.passed) passed, \(report.failed) failed\n")
        return report
    }

    /// Compares one expected file with the actual text (or rewrites it); false on a mismatch.
    static func compare(name: String, expectedPath: String, actual: String, bless: Bool, log: (String) -> Void) -> Bool {
        let file = (expectedPath as NSString).lastPathComponent
        if bless {
            do {
                try actual.write(toFile: expectedPath, atomically: true, encoding: .utf8)
                return true
            } catch {
                log("error: cannot write \(expectedPath): \(error.localizedDescription)\n")
                return false
            }
        }
        let expected = try? String(contentsOfFile: expectedPath, encoding: .utf8)
        if expected == actual { return true }
        if expected == nil { log("FAIL \(name): no \(file) (run with --bless to create it)\n") }
        else { log("FAIL \(name)\n" + UnifiedDiff.render(expected ?? "", actual, from: expectedPath, to: "actual output")) }
        return false
    }
}

/// A line-based unified diff (LCS; golden files are small).
public enum UnifiedDiff {
    enum Edit: Equatable { case same(String), removed(String), added(String) }

    static func edits(_ a: [String], _ b: [String]) -> [Edit] {
        let n = a.count, m = b.count
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var result = [Edit](), i = 0, j = 0
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] { result.append(.same(a[i])); i += 1; j += 1 }
            // Removals before additions, as diff -u prints them.
            else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) { result.append(.removed(a[i])); i += 1 }
            else { result.append(.added(b[j])); j += 1 }
        }
        return result
    }

    public static func render(_ old: String, _ new: String, from: String, to: String, context: Int = 3) -> String {
        let a = old.components(separatedBy: "\n"), b = new.components(separatedBy: "\n")
        let all = edits(a, b)
        let changed = all.indices.filter { if case .same = all[$0] { return false } else { return true } }
        guard !changed.isEmpty else { return "" }
        var out = "--- \(from)\n+++ \(to)\n"
        // Group changes whose context windows overlap into hunks.
        var groups = [[Int]]()
        for index in changed {
            if let last = groups.last?.last, index - last <= 2 * context { groups[groups.count - 1].append(index) } else { groups.append([index]) }
        }
        for group in groups {
            let start = max(0, group.first! - context), end = min(all.count, group.last! + context + 1)
            var oldLine = 1, newLine = 1
            for edit in all[..<start] {
                switch edit {
                case .same: oldLine += 1; newLine += 1
                case .removed: oldLine += 1
                case .added: newLine += 1
                }
            }
            var body = "", oldCount = 0, newCount = 0
            for edit in all[start..<end] {
                switch edit {
                case let .same(line): body += " \(line)\n"; oldCount += 1; newCount += 1
                case let .removed(line): body += "-\(line)\n"; oldCount += 1
                case let .added(line): body += "+\(line)\n"; newCount += 1
                }
            }
            out += "@@ -\(oldLine),\(oldCount) +\(newLine),\(newCount) @@\n" + body
        }
        return out
    }
}
