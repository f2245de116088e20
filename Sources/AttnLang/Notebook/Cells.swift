// A script's cells: a line `## title` (a level-2 Markdown heading inside a comment) starts a
// cell; lines before the first heading form an untitled cell. Lines are numbered from 1, as in
// diagnostics, so a statement belongs to the cell whose range holds its first line.
public struct CellSource {
    public var title: String?
    public var firstLine: Int
    public var lastLine: Int
    public var code: String
}

enum Cells {
    static func heading(_ line: Substring) -> String? {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        guard trimmed.hasPrefix("## ") || trimmed == "##" else { return nil }
        return trimmed.dropFirst(2).trimmingCharacters(in: .whitespaces)
    }

    static func split(_ text: String) -> [CellSource] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var cells = [CellSource]()
        var title: String?, first = 1, body = [Substring]()
        func close(at last: Int) {
            // Blank lines around a cell's code are layout, not content.
            var code = body
            while let line = code.first, line.trimmingCharacters(in: .whitespaces).isEmpty { code.removeFirst() }
            while let line = code.last, line.trimmingCharacters(in: .whitespaces).isEmpty { code.removeLast() }
            if title != nil || !code.isEmpty {
                cells.append(CellSource(title: title, firstLine: first, lastLine: last, code: code.joined(separator: "\n")))
            }
        }
        for (index, line) in lines.enumerated() {
            if let heading = heading(line) {
                close(at: index)
                title = heading
                first = index + 1
                body = []
            } else {
                body.append(line)
            }
        }
        close(at: lines.count)
        return cells
    }
}
