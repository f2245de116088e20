import Foundation

// `attn run FILE`: read, parse and run a script as a notebook runs its cells.
public enum ExitStatus: Int32 {
    case success = 0
    case languageError = 1
    case usageError = 2
}

public enum ScriptRunner {
    /// Runs the script at `path`; errors go to `output` as diagnostics. `displayName` replaces the
    /// path in messages (golden transcripts use the bare file name so they do not depend on cwd).
    public static func run(path: String, displayName: String? = nil, output: OutputSink, echo: Bool = false) -> ExitStatus {
        guard let text = readScript(path, output) else { return .usageError }
        let source = SourceFile(name: displayName ?? path, text: text)
        let directory = (path as NSString).deletingLastPathComponent
        let interpreter = Interpreter(output: output, baseDirectory: directory.isEmpty ? FileManager.default.currentDirectoryPath : directory)
        let ok = LargeStack.run { interpreter.run(source, echo: echo) }
        return ok ? .success : .languageError
    }

    /// The script's text, or nil after telling `output` why it cannot be had.
    public static func readScript(_ path: String, _ output: OutputSink?) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            output?.write("error: cannot read `\(path)`: no such file or not readable\n", isError: true)
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            output?.write("error: `\(path)` is not UTF-8 text\n", isError: true)
            return nil
        }
        return text
    }
}
