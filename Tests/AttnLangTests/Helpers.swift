import AttnLang

/// Runs source in a fresh interpreter; returns whether it succeeded and everything it printed.
func runScript(_ text: String, name: String = "t.attn") -> (ok: Bool, output: String) {
    let transcript = Transcript()
    let interpreter = Interpreter(output: transcript)
    let ok = LargeStack.run { interpreter.run(SourceFile(name: name, text: text)) }
    return (ok, transcript.text)
}

func lastLine(_ text: String) -> String {
    text.split(separator: "\n").last.map(String.init) ?? ""
}

/// Diagnostics as "line:col message", for checking positions.
func locatedMessages(_ diagnostics: [Diagnostic], in file: SourceFile) -> [String] {
    diagnostics.map { d in
        let (line, column) = file.location(of: d.span?.start ?? 0)
        return "\(line):\(column) \(d.message)"
    }
}
