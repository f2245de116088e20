import AttnKernels
import CReadline
import Foundation
import Synchronization

// GNU readline: line editing, persistent history and tab completion. Ctrl-C at the prompt
// abandons the line being typed; during a computation it cancels the computation (the SIGINT
// handler sets the kernels' cancellation flag, which the evaluator and kernels poll).
final class LineReader {
    private let historyPath: String
    static let historyLimit: Int32 = 2000

    init() {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        historyPath = (home as NSString).appendingPathComponent(".attn_history")
        using_history()
        stifle_history(LineReader.historyLimit)
        read_history(historyPath)
        attn_set_catch_signals(0)
        attn_set_event_hook(lineReaderSignalHook)
        attn_set_completion(lineReaderComplete)
        attn_set_word_breaks(Completer.wordBreaks)
        _ = attn_install_sigint(lineReaderInterrupt)
    }

    /// The next line, nil at end of input (Ctrl-D). `interrupted` is true when Ctrl-C abandoned it.
    func readLine(prompt: String) -> (line: String?, interrupted: Bool) {
        Cancellation.reset()
        LineReader.abandoned.store(false, ordering: .relaxed)
        guard let raw = readline(prompt) else { return (nil, false) }
        defer { free(raw) }
        if LineReader.abandoned.load(ordering: .relaxed) { return ("", true) }
        return (String(cString: raw), false)
    }

    func remember(_ entry: String) {
        guard !entry.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
        add_history(entry)
        append_history(1, historyPath)
        history_truncate_file(historyPath, LineReader.historyLimit)
    }

    func saveHistory() {
        write_history(historyPath)
    }

    static let abandoned = Atomic<Bool>(false)
}

/// SIGINT: only an atomic store, which is safe in a signal handler.
private func lineReaderInterrupt(_ signal: Int32) {
    Cancellation.request()
}

/// Readline calls this when a read is interrupted by a signal: abandon the current line.
private func lineReaderSignalHook() -> Int32 {
    if Cancellation.isRequested {
        Cancellation.reset()
        LineReader.abandoned.store(true, ordering: .relaxed)
        attn_abort_line()
    }
    return 0
}

private func lineReaderComplete(_ text: UnsafePointer<CChar>?, _ start: Int32, _ end: Int32) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
    let word = text.map { String(cString: $0) } ?? ""
    let line = rl_line_buffer.map { String(cString: $0) } ?? ""
    let prefix = String(line.utf8.prefix(Int(start))) ?? ""
    // `:load` completes file names: readline's default when we return no matches.
    if prefix.trimmingCharacters(in: .whitespaces).hasPrefix(":load") { return nil }
    attn_disable_filename_completion()
    Completer.shared.prepare(word: word, before: prefix)
    attn_set_completion_append(0)
    return attn_completion_matches(text, lineReaderGenerate)
}

private func lineReaderGenerate(_ text: UnsafePointer<CChar>?, _ state: Int32) -> UnsafeMutablePointer<CChar>? {
    guard let next = Completer.shared.next(reset: state == 0) else { return nil }
    return strdup(next)
}
