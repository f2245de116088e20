import Foundation

// Notebooks written as files: Markdown (tables as pipe tables, plots as inline SVG, which
// CommonMark passes through as HTML) or one self-contained HTML page (inline CSS and SVG, no
// scripts, no network), well-formed as XHTML so any XML parser can check it.
public enum ReportWriter {
    public enum Format: String {
        case markdown, html
        /// From the file name: .md/.markdown or .html/.htm.
        public init?(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "md", "markdown": self = .markdown
            case "html", "htm": self = .html
            default: return nil
            }
        }
    }

    /// `version: nil` writes "(varies)" for the date, version, machine and time: golden reports.
    public static func render(_ notebook: Notebook, format: Format, version: String?) -> String {
        switch format {
        case .markdown: return markdown(notebook, version: version)
        case .html: return html(notebook, version: version)
        }
    }

    /// Renders the notebook and writes it to `path`.
    public static func write(_ notebook: Notebook, to path: String, format: Format, version: String?) throws {
        try render(notebook, format: format, version: version).write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func headerFields(_ notebook: Notebook, version: String?) -> [(String, String)] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let failed = notebook.cells.contains { $0.items.contains { if case .error = $0 { return true } else { return false } } }
        let status = failed ? "stopped at an error" : "all cells ran"
        guard let version else { return ["date", "attn", "machine", "total time"].map { ($0, "(varies)") } + [("status", status)] }
        return [
            ("date", formatter.string(from: notebook.started)),
            ("attn", version),
            ("machine", MachineInfo.summary),
            ("total time", String(format: "%.2f s", notebook.totalMilliseconds / 1000)),
            ("status", status),
        ]
    }

    static let notRun = "not run: an earlier cell failed"

    // MARK: Markdown

    static func markdown(_ notebook: Notebook, version: String?) -> String {
        var out = "# \(notebook.title)\n\n"
        for (name, value) in headerFields(notebook, version: version) { out += "- \(name): \(value)\n" }
        for cell in notebook.cells {
            if !out.hasSuffix("\n\n") { out += "\n" }
            // The lines before the first `## title` are a cell without a heading.
            if let title = cell.title { out += "## \(title)\n\n" }
            if !cell.code.isEmpty { out += fenced(cell.code, language: "attn") }
            guard cell.ran else {
                out += "*\(notRun)*\n"
                continue
            }
            for item in cell.items {
                switch item {
                case let .text(text): out += fenced(text, language: "text")
                case let .error(text): out += "**error**\n\n" + fenced(text, language: "text")
                case let .figure(.table(table)): out += markdownTable(table)
                case let .figure(figure): out += (SVGFigure.render(figure) ?? "") + "\n"
                }
            }
        }
        return out
    }

    /// A fenced block long enough not to be closed by backticks inside the text.
    static func fenced(_ text: String, language: String) -> String {
        var fence = "```"
        while text.contains(fence) { fence += "`" }
        let body = text.hasSuffix("\n") ? text : text + "\n"
        return fence + language + "\n" + body + fence + "\n\n"
    }

    static func markdownTable(_ table: TableFigure) -> String {
        func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var out = "| " + table.columns.map(cell).joined(separator: " | ") + " |\n"
        out += "|" + table.numeric.map { $0 ? " ---: |" : " :--- |" }.joined() + "\n"
        for row in table.cells { out += "| " + row.map(cell).joined(separator: " | ") + " |\n" }
        return out + "\n"
    }

    // MARK: HTML

    static func escape(_ text: String) -> String { SVGFigure.escape(text) }

    static let style = """
    body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em; color: #1f2328; }
    h1 { font-size: 1.6em; border-bottom: 1px solid #d0d7de; padding-bottom: .3em; }
    h2 { font-size: 1.25em; margin-top: 2em; }
    dl.header { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; color: #57606a; }
    dl.header dt { font-weight: 600; }
    dl.header dd { margin: 0; }
    pre { padding: .8em 1em; border-radius: 6px; overflow-x: auto; font-size: 13px; line-height: 1.4; }
    pre.code { background: #f6f8fa; border: 1px solid #d0d7de; }
    pre.out { background: #fff; border-left: 3px solid #d0d7de; }
    pre.error { background: #fff5f5; border-left: 3px solid #cf222e; color: #82071e; }
    table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
    th, td { border: 1px solid #d0d7de; padding: .3em .7em; }
    th { background: #f6f8fa; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; }
    figure { margin: 1em 0; }
    p.skipped { color: #8c959f; font-style: italic; }
    """

    static func html(_ notebook: Notebook, version: String?) -> String {
        var out = "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        out += "<title>\(escape(notebook.title))</title>\n<style>\n\(style)\n</style>\n</head>\n<body>\n"
        out += "<h1>\(escape(notebook.title))</h1>\n<dl class=\"header\">\n"
        for (name, value) in headerFields(notebook, version: version) { out += "<dt>\(escape(name))</dt><dd>\(escape(value))</dd>\n" }
        out += "</dl>\n"
        for cell in notebook.cells {
            out += "<section class=\"cell\">\n" + (cell.title.map { "<h2>\(escape($0))</h2>\n" } ?? "")
            if !cell.code.isEmpty { out += "<pre class=\"code\">\(escape(cell.code))</pre>\n" }
            if !cell.ran { out += "<p class=\"skipped\">\(notRun)</p>\n" }
            for item in cell.items {
                switch item {
                case let .text(text): out += "<pre class=\"out\">\(escape(text))</pre>\n"
                case let .error(text): out += "<pre class=\"error\">\(escape(text))</pre>\n"
                case let .figure(.table(table)): out += htmlTable(table)
                case let .figure(figure): out += "<figure>\n" + (SVGFigure.render(figure) ?? "") + "</figure>\n"
                }
            }
            out += "</section>\n"
        }
        return out + "</body>\n</html>\n"
    }

    static func htmlTable(_ table: TableFigure) -> String {
        var out = "<table>\n<thead><tr>" + table.columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for row in table.cells {
            out += "<tr>" + row.indices.map { c in (table.numeric[c] ? "<td class=\"num\">" : "<td>") + escape(row[c]) + "</td>" }.joined() + "</tr>\n"
        }
        return out + "</tbody>\n</table>\n"
    }
}
