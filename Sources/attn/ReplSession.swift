import AttnKernels
import AttnLang
import Foundation

// The interactive session: In [n] / Out[n] numbering, `_` and `_n` for results, multi-line input
// while brackets are open, and `:` commands. An error prints its diagnostic and the session
// keeps every variable; Ctrl-C cancels the running cell; Ctrl-D exits.
final class ReplSession {
    struct Command {
        let name: String
        let usage: String
        let summary: String
    }

    static let commands: [Command] = [
        Command(name: "help", usage: ":help [name]", summary: "list builtins, or describe one"),
        Command(name: "vars", usage: ":vars", summary: "list your variables"),
        Command(name: "time", usage: ":time expr", summary: "evaluate and report the wall time"),
        Command(name: "load", usage: ":load file.attn", summary: "run a script in this session"),
        Command(name: "save", usage: ":save file.md|html", summary: "save the session so far as a notebook"),
        Command(name: "plot", usage: ":plot [file.svg]", summary: "show the last plot again, or write it as SVG"),
        Command(name: "reset", usage: ":reset", summary: "forget all variables"),
        Command(name: "quit", usage: ":quit", summary: "leave (also Ctrl-D)"),
    ]

    /// Everything the session shows is also recorded, cell by cell, for `:save`.
    let recorder = NotebookRecorder(title: "attn session", tee: StandardOutput())
    let interpreter: Interpreter
    let reader = LineReader()
    var cellNumber = 1
    var evaluationMilliseconds = 0.0

    init() {
        interpreter = Interpreter(output: recorder)
        Completer.shared.attach(interpreter)
        ProgressDisplay.shared.enabled = true
    }

    func loop() {
        print("attn \(AttnVersion.string): :help for help, :quit or Ctrl-D to leave")
        while true {
            guard let cell = readCell() else { break }
            let trimmed = cell.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            reader.remember(cell)
            if trimmed.hasPrefix(":") {
                if !command(trimmed) { break }
            } else {
                evaluate(cell, timed: false)
            }
            fflush(stdout)
        }
        print("")
        reader.saveHistory()
    }

    /// Reads lines until brackets balance; nil at end of input.
    func readCell() -> String? {
        var lines = [String]()
        while true {
            let prompt = lines.isEmpty ? "In [\(cellNumber)]: " : String(repeating: " ", count: "In [\(cellNumber)]".count - 3) + "...: "
            let (line, interrupted) = reader.readLine(prompt: prompt)
            if interrupted { return "" }
            guard let line else { return lines.isEmpty ? nil : lines.joined(separator: "\n") }
            lines.append(line)
            let text = lines.joined(separator: "\n")
            if Lexer.openBrackets(in: text) <= 0 || text.hasPrefix(":") { return text }
        }
    }

    func evaluate(_ text: String, timed: Bool) {
        let number = cellNumber
        cellNumber += 1
        recorder.startCell(title: "In [\(number)]", code: text)
        let source = SourceFile(name: "In[\(number)]", text: text)
        let (statements, diagnostics) = Parser.parse(source)
        if !diagnostics.isEmpty {
            for d in diagnostics { interpreter.printError(d.render()) }
            return
        }
        Cancellation.reset()
        let interpreter = self.interpreter
        let start = DispatchTime.now().uptimeNanoseconds
        let (last, failure) = LargeStack.run { () -> (Value?, Diagnostic?) in
            var last: Value?
            do {
                try interpreter.execute(statements, in: source) { statement, value in
                    last = statement.span == statements.last?.span ? value : nil
                }
                return (last, nil)
            } catch let d as Diagnostic {
                return (nil, d)
            } catch {
                return (nil, Diagnostic("\(error)"))
            }
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        evaluationMilliseconds += ms
        if Cancellation.isRequested { print("") }  // end the line the terminal's ^C echo left open
        Cancellation.reset()
        if let failure {
            interpreter.printError(failure.render())
            return
        }
        if let last, !isNone(last) {
            interpreter.define("_", last)
            interpreter.define("_\(number)", last)
            let text = Format.display(last)
            interpreter.print("Out[\(number)]: " + (text.contains("\n") ? "\n" : "") + text + "\n")
        }
        if timed { interpreter.print("time: \(Format.float(ms)) ms\n") }
    }

    func isNone(_ value: Value) -> Bool {
        if case .none = value { return true }
        return false
    }

    /// Runs a `:` command; false means leave.
    func command(_ text: String) -> Bool {
        let parts = text.dropFirst().split(separator: " ", maxSplits: 1)
        let name = parts.first.map(String.init) ?? ""
        let argument = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
        switch name {
        case "help", "h":
            do {
                let value: Value = argument.isEmpty ? .none : .string(argument)
                print(try Help.text(for: value, interpreter: interpreter), terminator: "")
                if argument.isEmpty {
                    print("\nREPL commands:")
                    for c in ReplSession.commands { print("  " + c.usage.padding(toLength: 18, withPad: " ", startingAt: 0) + c.summary) }
                }
            } catch let e as BuiltinError {
                interpreter.printError("error: \(e.message)\n" + e.notes.map { $0 + "\n" }.joined())
            } catch {
                interpreter.printError("error: \(error)\n")
            }
        case "vars":
            let names = interpreter.globals.variableNamesInScope.filter { !$0.hasPrefix("_") }
            if names.isEmpty { print("(no variables)") }
            for name in names {
                guard let value = interpreter.lookup(name) else { continue }
                print("  \(name): \(value.typeName) = \(String(Format.inline(value).prefix(70)))")
            }
        case "time":
            if argument.isEmpty { interpreter.printError("error: usage: :time expr\n") } else { evaluate(argument, timed: true) }
        case "load":
            load(argument)
        case "save":
            save(argument)
        case "plot":
            plot(argument)
        case "reset":
            interpreter.reset()
            print("(variables cleared)")
        case "quit", "q", "exit":
            return false
        default:
            interpreter.printError("error: unknown command `:\(name)`\n" + "note: commands: " + ReplSession.commands.map { ":" + $0.name }.joined(separator: ", ") + "\n")
        }
        return true
    }

    func load(_ path: String) {
        guard !path.isEmpty else { return interpreter.printError("error: usage: :load file.attn\n") }
        guard let text = ScriptRunner.readScript(path, interpreter.output) else { return }
        recorder.startCell(title: ":load \(path)", code: text)
        let interpreter = self.interpreter
        Cancellation.reset()
        _ = LargeStack.run { interpreter.run(SourceFile(name: path, text: text)) }
        Cancellation.reset()
    }

    func save(_ path: String) {
        guard let format = ReportWriter.Format(path: path) else {
            return interpreter.printError("error: usage: :save file.md or :save file.html\n")
        }
        recorder.setTotal(milliseconds: evaluationMilliseconds)
        do {
            try ReportWriter.write(recorder.notebook, to: path, format: format, version: AttnVersion.string)
            print("saved \(recorder.notebook.cells.count) cells to \(path)")
        } catch {
            interpreter.printError("error: cannot write `\(path)`: \(error.localizedDescription)\n")
        }
    }

    func plot(_ path: String) {
        guard let figure = interpreter.lastFigure else {
            return interpreter.printError("error: no plot yet: plot(...) or heatmap(...) makes one\n")
        }
        if path.isEmpty { return print(figure.terminalText, terminator: "") }
        guard (path as NSString).pathExtension.lowercased() == "svg", let svg = SVGFigure.render(figure) else {
            return interpreter.printError("error: usage: :plot, or :plot file.svg\n")
        }
        do {
            try svg.write(toFile: path, atomically: true, encoding: .utf8)
            print("wrote \(path)")
        } catch {
            interpreter.printError("error: cannot write `\(path)`: \(error.localizedDescription)\n")
        }
    }
}
