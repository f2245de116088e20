import ArgumentParser
import AttnLang
import Foundation

// The command line: `attn` (REPL, or a script on stdin), `attn run`, `attn check`.
struct Attn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attn",
        abstract: "A small language, REPL and script runner for efficient-attention experiments.",
        discussion: "Run `attn` on a terminal for the REPL; pipe a script into it to run it (echo 'print(1+1)' | attn).",
        version: AttnVersion.string,
        subcommands: [Repl.self, Run.self, Check.self],
        defaultSubcommand: Repl.self)
}

struct Repl: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Interactive session (the default). With stdin not a terminal, runs stdin as a script.")

    func run() throws {
        if isatty(STDIN_FILENO) != 0 {
            ReplSession().loop()
            return
        }
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: data, encoding: .utf8) else {
            FileHandle.standardError.write(Data("error: standard input is not UTF-8 text\n".utf8))
            throw ExitCode(ExitStatus.usageError.rawValue)
        }
        let interpreter = Interpreter(output: StandardOutput())
        let ok = LargeStack.run { interpreter.run(SourceFile(name: "<stdin>", text: text)) }
        fflush(stdout)
        if !ok { throw ExitCode(ExitStatus.languageError.rawValue) }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a script as a notebook runs its cells.",
        discussion: "Statements run in order; each top-level expression whose value is not none is displayed. Exit status: 0 success, 1 language error, 2 usage error.")

    @Argument(help: "The .attn script to run.")
    var file: String

    @Flag(help: "Echo each top-level statement (prefixed by `> `) before its output.")
    var echo = false

    @Option(help: ArgumentHelp("Also write the run as a notebook: cells (`## title` lines) with their code, output, tables, plots (SVG) and errors.", valueName: "out.html|out.md"))
    var report: String?

    func validate() throws {
        if let report, ReportWriter.Format(path: report) == nil {
            throw ValidationError("--report needs a file ending in .html, .htm, .md or .markdown, got `\(report)`")
        }
        if report != nil && echo { throw ValidationError("--echo and --report cannot be combined (the report shows each cell's code)") }
    }

    func run() throws {
        ProgressDisplay.shared.enabled = true
        let status: ExitStatus
        if let report, let format = ReportWriter.Format(path: report) {
            status = NotebookRunner.run(path: file, output: StandardOutput(), reportPath: report, format: format, version: AttnVersion.string)
        } else {
            status = ScriptRunner.run(path: file, output: StandardOutput(), echo: echo)
        }
        fflush(stdout)
        if let report, status != .usageError { FileHandle.standardError.write(Data("report written to \(report)\n".utf8)) }
        if status != .success { throw ExitCode(status.rawValue) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Golden-output tests: run every NAME.attn in DIR and compare with NAME.out.",
        discussion: "Prints a unified diff per mismatch and a final `N passed, N failed` line; exits 1 on any failure.")

    @Argument(help: "Folder of .attn scripts with their .out transcripts.")
    var directory: String

    @Flag(help: "Rewrite the .out files with the current output.")
    var bless = false

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("`\(directory)` is not a folder")
        }
        guard !Golden.scripts(in: directory).isEmpty else { throw ValidationError("no .attn scripts in `\(directory)`") }
        let report = Golden.check(directory: directory, bless: bless) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if report.failed > 0 { throw ExitCode(ExitStatus.languageError.rawValue) }
    }
}
