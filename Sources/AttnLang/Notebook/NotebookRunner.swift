import Foundation

// `attn run FILE --report out.html|md`: runs the script cell by cell (cells are `## title`
// lines), recording each cell's output, tables, plots and errors, then writes the report. The
// first error stops the run, as it does without a report; it is shown in its cell, and the
// cells after it are listed as not run.
public enum NotebookRunner {
    public static func run(path: String, output: OutputSink, reportPath: String, format: ReportWriter.Format, version: String) -> ExitStatus {
        guard let (status, notebook) = record(path: path, output: output) else { return .usageError }
        do {
            try ReportWriter.write(notebook, to: reportPath, format: format, version: version)
        } catch {
            output.write("error: cannot write the report `\(reportPath)`: \(error.localizedDescription)\n", isError: true)
            return .usageError
        }
        return status
    }

    /// Runs the script and returns its notebook; nil (after a message) when it cannot be read.
    /// `displayName` replaces the path in messages, as in golden transcripts.
    public static func record(path: String, displayName: String? = nil, output: OutputSink?) -> (ExitStatus, Notebook)? {
        guard let text = ScriptRunner.readScript(path, output) else { return nil }
        let recorder = NotebookRecorder(title: (path as NSString).lastPathComponent, tee: output)
        let start = DispatchTime.now().uptimeNanoseconds
        let status = LargeStack.run { execute(text: text, path: path, displayName: displayName ?? path, recorder: recorder) }
        recorder.setTotal(milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        return (status, recorder.notebook)
    }

    static func execute(text: String, path: String, displayName: String, recorder: NotebookRecorder) -> ExitStatus {
        let source = SourceFile(name: displayName, text: text)
        let cells = Cells.split(text)
        let directory = (path as NSString).deletingLastPathComponent
        let interpreter = Interpreter(output: recorder, baseDirectory: directory.isEmpty ? FileManager.default.currentDirectoryPath : directory)
        let (statements, diagnostics) = Parser.parse(source)
        if !diagnostics.isEmpty {
            recorder.startCell(title: "syntax errors", code: "")
            for d in diagnostics { interpreter.printError(d.render()) }
            for cell in cells { recorder.addPending(Notebook.Cell(title: cell.title, code: cell.code)) }
            return .languageError
        }
        var remaining = statements[...]
        for (index, cell) in cells.enumerated() {
            recorder.startCell(title: cell.title, code: cell.code)
            var mine = [Stmt]()
            while let next = remaining.first, source.location(of: next.span.start).line <= cell.lastLine {
                mine.append(next)
                remaining.removeFirst()
            }
            do {
                try interpreter.execute(mine, in: source) { _, value in
                    if let value { interpreter.display(value) }
                }
            } catch {
                interpreter.printError(error.render())
                for later in cells[(index + 1)...] { recorder.addPending(Notebook.Cell(title: later.title, code: later.code)) }
                return .languageError
            }
        }
        return .success
    }
}
