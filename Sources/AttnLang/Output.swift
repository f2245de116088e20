import Foundation

// Where a program's output goes: the terminal, or a transcript (golden tests, reports).
public protocol OutputSink: AnyObject {
    func write(_ text: String, isError: Bool)
}

public final class StandardOutput: OutputSink {
    public init() {}
    public func write(_ text: String, isError: Bool) {
        // Flush stdout before writing to stderr so the two interleave in program order.
        if isError {
            fflush(stdout)
            fputs(text, stderr)
        } else {
            fputs(text, stdout)
        }
    }
}

/// Collects stdout and stderr together, in order.
public final class Transcript: OutputSink {
    public private(set) var text = ""
    public init() {}
    public func write(_ text: String, isError: Bool) { self.text += text }
}
