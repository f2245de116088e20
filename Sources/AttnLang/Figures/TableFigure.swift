// A table of already formatted cells: numbers are right-aligned (a column is numeric when every
// non-empty cell is a number), text left-aligned.
public struct TableFigure {
    public var columns: [String]
    public var cells: [[String]]
    public var numeric: [Bool]

    /// Rows are records (columns in first-seen order, or `columns`) or lists.
    init(rows: [Value], columns requested: [String]?) throws {
        var columns = requested ?? []
        var values = [[Value]]()
        for row in rows {
            switch row {
            case let .record(r):
                if requested == nil { for key in r.keys where !columns.contains(key) { columns.append(key) } }
                values.append([])
            case let .list(items):
                if requested == nil && columns.count < items.count { columns += (columns.count..<items.count).map { "c\($0)" } }
                values.append(items)
            default:
                throw BuiltinError(message: "table rows must be records or lists, found \(row.typeName)")
            }
        }
        // Records are read by column name once all the columns are known.
        for (i, row) in rows.enumerated() {
            if case let .record(r) = row { values[i] = columns.map { r[$0] ?? .none } }
            else { values[i] = (0..<columns.count).map { $0 < values[i].count ? values[i][$0] : .none } }
        }
        self.columns = columns
        self.cells = values.map { $0.map(TableFigure.cell) }
        self.numeric = columns.indices.map { c in
            values.contains { $0[c].number != nil } && values.allSatisfy { $0[c].number != nil || $0[c].isNone }
        }
    }

    static func cell(_ value: Value) -> String {
        switch value {
        case let .string(s): return s
        case .none: return ""
        default: return Format.inline(value)
        }
    }

    public var terminalText: String {
        if cells.isEmpty { return "(no rows)\n" }
        let widths = columns.indices.map { c in max(columns[c].count, cells.map { $0[c].count }.max() ?? 0) }
        func line(_ texts: [String]) -> String {
            var text = texts.indices.map { c in
                let pad = String(repeating: " ", count: widths[c] - texts[c].count)
                return numeric[c] ? pad + texts[c] : texts[c] + pad
            }.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text + "\n"
        }
        var out = line(columns)
        out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for row in cells { out += line(row) }
        return out
    }

    /// CSV as RFC 4180 writes it: fields with commas, quotes or line breaks are quoted.
    public var csvText: String {
        func field(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return ([columns] + cells).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}
