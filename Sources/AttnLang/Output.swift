import Foundation

// Where a program's output goes: the terminal, a transcript (golden tests), or a notebook
// recorder (reports). Text is written as it comes; figures (tables, plots, heatmaps) are handed
// over whole, so a report can render them as HTML and SVG while a terminal gets their text form.
public protocol OutputSink: AnyObject {
    func write(_ text: String, isError: Bool)
    func emit(_ figure: Figure)
}

extension OutputSink {
    public func emit(_ figure: Figure) { write(figure.terminalText, isError: false) }
}

public final class StandardOutput: OutputSink {
    public init() {}
    public func write(_ text: String, isError: Bool) {
        ProgressDisplay.shared.clearLine()
        // Flush stdout before writing to stderr so the two interleave in program order.
        if isError {
            fflush(stdout)
            fputs(text, stderr)
        } else {
            fputs(text, stdout)
            // With a status line on the terminal, output must reach it before the line is redrawn.
            if ProgressDisplay.shared.enabled { fflush(stdout) }
        }
    }
}

/// Collects stdout and stderr together, in order.
public final class Transcript: OutputSink {
    public private(set) var text = ""
    public init() {}
    public func write(_ text: String, isError: Bool) { self.text += text }
}
