import AttnKernels

// `table(rows)`: records (or lists) printed as aligned columns, numbers right-aligned, text
// left-aligned, with a header and a rule. The terminal form; reports build on the same rows.
enum TableBuiltins {
    static func cell(_ value: Value) -> String {
        switch value {
        case let .string(s): return s
        case .none: return ""
        default: return Format.inline(value)
        }
    }

    static func isNumeric(_ value: Value) -> Bool { value.number != nil }

    static func render(rows: [Value], columns requested: [String]?) throws -> String {
        if rows.isEmpty { return "(no rows)\n" }
        var columns = requested ?? []
        var cells = [[Value]]()
        for row in rows {
            switch row {
            case let .record(r):
                if requested == nil { for key in r.keys where !columns.contains(key) { columns.append(key) } }
                cells.append([])
            case let .list(items):
                if requested == nil && columns.count < items.count { columns += (columns.count..<items.count).map { "c\($0)" } }
                cells.append(items)
            default:
                throw BuiltinError(message: "`table` rows must be records or lists, found \(row.typeName)")
            }
        }
        // Records are read by column name once all the columns are known.
        for (i, row) in rows.enumerated() {
            if case let .record(r) = row { cells[i] = columns.map { r[$0] ?? .none } }
            else { cells[i] = (0..<columns.count).map { $0 < cells[i].count ? cells[i][$0] : .none } }
        }
        let widths = columns.indices.map { c in max(columns[c].count, cells.map { cell($0[c]).count }.max() ?? 0) }
        let numeric = columns.indices.map { c in cells.contains { isNumeric($0[c]) } && cells.allSatisfy { isNumeric($0[c]) || $0[c].isNone } }
        func line(_ texts: [String]) -> String {
            texts.indices.map { c in
                let pad = String(repeating: " ", count: widths[c] - texts[c].count)
                return numeric[c] ? pad + texts[c] : texts[c] + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }
        var out = line(columns)
        out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for row in cells { out += line(row.map(cell)) }
        return out
    }

    static let all: [Builtin] = [
        Builtin("table", [.required("rows", .list), .optional("cols", .optional(.list))],
                summary: "Print rows (records or lists) as an aligned table; `cols` picks and orders columns.") { args, interp in
            guard case let .list(rows) = args["rows"] else { return .none }
            var columns: [String]?
            if case let .list(names) = args["cols"] {
                columns = try names.map {
                    guard case let .string(s) = $0 else { throw BuiltinError(message: "`cols` must be a list of strings") }
                    return s
                }
            }
            interp.print(try render(rows: rows, columns: columns))
            return .none
        },
    ]
}

import Foundation
