import AttnKernels
import Foundation

// Tables: `table(rows)` shows rows (records or lists) as aligned columns in a terminal and as an
// HTML or Markdown table in a report; `csv(rows, path)` writes the same cells to a file.
enum TableBuiltins {
    static func columns(_ args: Arguments) throws -> [String]? {
        guard case let .list(names) = args["cols"] else { return nil }
        return try names.map {
            guard case let .string(s) = $0 else { throw BuiltinError(message: "`cols` must be a list of strings") }
            return s
        }
    }

    static func rows(_ args: Arguments) -> [Value] {
        if case let .list(rows) = args["rows"] { return rows }
        return []
    }

    static let all: [Builtin] = [
        Builtin("table", [.required("rows", .list), .optional("cols", .optional(.list))],
                summary: "Show rows (records or lists) as an aligned table; `cols` picks and orders columns.",
                doc: "Numbers are right-aligned and formatted as everywhere else; a missing field is blank. In a report (attn run --report) the table becomes an HTML or Markdown table.") { args, interp in
            interp.emit(.table(try TableFigure(rows: rows(args), columns: try columns(args))))
            return .none
        },
        Builtin("csv", [.required("rows", .list), .required("path", .string), .optional("cols", .optional(.list))],
                summary: "Write rows (records or lists) to a CSV file with a header line; returns the path.",
                doc: "Cells are formatted as `table` shows them; fields holding commas, quotes or line breaks are quoted (RFC 4180). Relative paths resolve against the script's folder.") { args, interp in
            let table = try TableFigure(rows: rows(args), columns: try columns(args))
            let path = try args.string("path")
            do {
                try table.csvText.write(toFile: FileBuiltins.resolve(path, interp), atomically: true, encoding: .utf8)
            } catch {
                throw BuiltinError(message: "cannot write `\(path)`: \(error.localizedDescription)")
            }
            return .string(path)
        },
    ]
}
