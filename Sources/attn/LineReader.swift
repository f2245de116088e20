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
        attn_set_getc(lineReaderGetc)
        attn_set_completion(lineReaderComplete)
        // readline keeps the pointer, so the string must outlive this call.
        attn_set_word_breaks(UnsafePointer(strdup(Completer.wordBreaks)))
        promptThread = pthread_self()
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

/// The thread that runs readline. The kernel may deliver SIGINT to any thread (Dispatch workers
/// included); the handler forwards it so that readline's read() is interrupted too.
private var promptThread: pthread_t?

/// SIGINT: an atomic store and pthread_kill, both safe in a signal handler.
private func lineReaderInterrupt(_ signal: Int32) {
    Cancellation.request()
    if let promptThread, pthread_equal(pthread_self(), promptThread) == 0 {
        pthread_kill(promptThread, SIGINT)
    }
}

/// Readline's input: one byte from the terminal. When Ctrl-C interrupts the read, it answers
/// a newline so readline finishes the line at once (cursor at its end), and marks it abandoned.
private func lineReaderGetc(_ stream: UnsafeMutablePointer<FILE>?) -> Int32 {
    let descriptor = stream.map { fileno($0) } ?? STDIN_FILENO
    while true {
        var byte: UInt8 = 0
        let count = read(descriptor, &byte, 1)
        if count == 1 { return Int32(byte) }
        if count == 0 { return EOF }
        guard errno == EINTR else { return EOF }
        if Cancellation.isRequested {
            Cancellation.reset()
            LineReader.abandoned.store(true, ordering: .relaxed)
            return Int32(UInt8(ascii: "\n"))
        }
    }
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
