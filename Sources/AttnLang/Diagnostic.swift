import Foundation

// One diagnostic type for lexer, parser and runtime, rendered rustc-style:
//   file:line:col: error: message
//     3 | y = tcaa(q, t)
//       |     ^~~~
//   help: did you mean `tca`?
public final class SourceFile: @unchecked Sendable {
    public let name: String
    public let text: String
    public let bytes: [UInt8]
    private let lineStarts: [Int]

    public init(name: String, text: String) {
        self.name = name
        self.text = text
        self.bytes = Array(text.utf8)
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
        self.lineStarts = starts
    }

    /// 1-based line and column (in characters) of a byte offset.
    public func location(of offset: Int) -> (line: Int, column: Int) {
        let clamped = max(0, min(offset, bytes.count))
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= clamped { lo = mid } else { hi = mid - 1 }
        }
        let prefix = bytes[lineStarts[lo]..<clamped]
        return (lo + 1, String(decoding: prefix, as: UTF8.self).count + 1)
    }

    public func lineText(_ line: Int) -> String {
        guard line >= 1 && line <= lineStarts.count else { return "" }
        let start = lineStarts[line - 1]
        var end = line < lineStarts.count ? lineStarts[line] - 1 : bytes.count
        if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[start..<max(start, end)], as: UTF8.self)
    }

    public func slice(_ span: Span) -> String {
        let s = max(0, min(span.start, bytes.count)), e = max(s, min(span.end, bytes.count))
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }
}

/// A half-open byte range in a source file.
public struct Span: Equatable, Sendable {
    public var start: Int
    public var end: Int
    public init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = max(start, end)
    }
    public func to(_ other: Span) -> Span { Span(min(start, other.start), max(end, other.end)) }
}

public struct Diagnostic: Error, CustomStringConvertible {
    public enum Severity: String { case error, warning }

    public var severity: Severity = .error
    public var message: String
    public var span: Span?
    public var file: SourceFile?
    /// Extra lines: "help: ...", "note: ...".
    public var notes: [String]

    public init(_ message: String, span: Span? = nil, file: SourceFile? = nil, notes: [String] = []) {
        self.message = message
        self.span = span
        self.file = file
        self.notes = notes
    }

    public var description: String { render() }

    public func render() -> String {
        var out = ""
        guard let file, let span else {
            out = "error: \(message)\n"
            for note in notes { out += note + "\n" }
            return out
        }
        let (line, column) = file.location(of: span.start)
        out += "\(file.name):\(line):\(column): \(severity.rawValue): \(message)\n"
        let text = file.lineText(line)
        let gutter = String(line)
        let pad = String(repeating: " ", count: gutter.count)
        out += " \(gutter) | \(text)\n"
        // The caret covers the span on its first line (at least one character).
        let endLocation = file.location(of: span.end)
        let lineLength = text.count
        let width = endLocation.line == line ? max(1, endLocation.column - column) : max(1, lineLength - column + 1)
        // Tabs are kept so the caret lines up under tab-indented code.
        let prefix = String(text.prefix(column - 1).map { (c: Character) -> Character in c == "\t" ? "\t" : " " })
        let underline: String = "^" + String(repeating: "~", count: max(0, width - 1))
        out += " " + pad + " | " + prefix + underline + "\n"
        for note in notes { out += note + "\n" }
        return out
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased()), y = Array(b.lowercased())
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    for i in 1...x.count {
        var current = [i] + [Int](repeating: 0, count: y.count)
        for j in 1...y.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[y.count]
}

/// The closest candidate within a distance that grows with the name's length, if any.
func closestName(to name: String, in candidates: [String]) -> String? {
    let limit = max(1, min(3, name.count / 3 + 1))
    var best: (String, Int)?
    for candidate in candidates.sorted() where candidate != name {
        let d = editDistance(name, candidate)
        if d <= limit && (best == nil || d < best!.1) { best = (candidate, d) }
    }
    return best?.0
}
