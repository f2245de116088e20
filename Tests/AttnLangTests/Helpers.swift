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
