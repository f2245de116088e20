import Foundation

// Progress on stderr, only when it is a terminal and the front end asked for it (`attn run` and
// the REPL do; golden tests and pipes never see it). One status line shows every active
// `for x in progress(list)` loop as a bar with a count and an estimate of the time left, plus,
// once a single builtin call has run for a second, its name and elapsed time. A timer redraws
// the line five times a second; program output clears it first, so the two never mix.
public final class ProgressDisplay: @unchecked Sendable {
    public static let shared = ProgressDisplay()

    struct Bar {
        var label: String
        var done: Int
        var total: Int
        var start: UInt64
        /// Extra live figures after the count (fit's loss and steps/s).
        var detail = ""
    }

    private let lock = NSLock()
    private var bars: [Bar] = []
    private var call: (name: String, start: UInt64)?
    private var timer: DispatchSourceTimer?
    private var drawn = false
    private var wanted = false

    /// Turned on by the command-line front ends; progress still needs stderr to be a terminal.
    public var enabled: Bool {
        get { lock.withLock { wanted } }
        set {
            lock.withLock {
                wanted = newValue && isatty(STDERR_FILENO) != 0
                if wanted { startTimerLocked() }
            }
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    func beginBar(label: String, total: Int) -> Int? {
        lock.withLock {
            guard wanted else { return nil }
            bars.append(Bar(label: label, done: 0, total: total, start: ProgressDisplay.now()))
            return bars.count - 1
        }
    }

    func advance(_ bar: Int?, done: Int) {
        guard let bar else { return }
        lock.withLock { if bar < bars.count { bars[bar].done = done } }
    }

    func setDetail(_ bar: Int?, _ detail: String) {
        guard let bar else { return }
        lock.withLock { if bar < bars.count { bars[bar].detail = detail } }
    }

    func endBar(_ bar: Int?) {
        guard let bar else { return }
        lock.withLock {
            if bar < bars.count { bars.removeSubrange(bar...) }
            stopIfIdleLocked()
        }
    }

    /// Marks a builtin call as running (shown only if it lasts over a second); returns a token for `endCall`.
    func beginCall(_ name: String) -> Bool {
        lock.withLock {
            guard wanted, call == nil else { return false }
            call = (name, ProgressDisplay.now())
            return true
        }
    }

    func endCall(_ began: Bool) {
        guard began else { return }
        lock.withLock {
            call = nil
            stopIfIdleLocked()
        }
    }

    /// Called before program output is written: the status line is erased and redrawn later.
    public func clearLine() {
        lock.withLock { eraseLocked() }
    }

    private func eraseLocked() {
        if drawn {
            fputs("\r\u{1B}[K", stderr)
            fflush(stderr)
            drawn = false
        }
    }

    /// One timer for the life of the process once progress is enabled: it only draws when
    /// something is in progress, so a builtin call costs a lock, not a timer.
    private func startTimerLocked() {
        guard timer == nil else { return }
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        source.schedule(deadline: .now() + .milliseconds(200), repeating: .milliseconds(200))
        source.setEventHandler { [weak self] in self?.redraw() }
        source.resume()
        timer = source
    }

    private func stopIfIdleLocked() {
        if bars.isEmpty && call == nil { eraseLocked() }
    }

    private func redraw() {
        lock.withLock {
            let line = statusLineLocked()
            guard !line.isEmpty else { return eraseLocked() }
            fputs("\r" + line + "\u{1B}[K", stderr)
            fflush(stderr)
            drawn = true
        }
    }

    private func statusLineLocked() -> String {
        let now = ProgressDisplay.now()
        var parts = bars.map { ProgressDisplay.render($0, now: now) }
        // A builtin with its own bar (fit) is not shown twice.
        if let call, now - call.start > 1_000_000_000, !bars.contains(where: { $0.label == call.name }) {
            parts.append("\(call.name) \(String(format: "%.1f", Double(now - call.start) / 1e9)) s")
        }
        return parts.joined(separator: "  ·  ")
    }

    static func render(_ bar: Bar, now: UInt64) -> String {
        let width = 24
        let fraction = bar.total > 0 ? Double(bar.done) / Double(bar.total) : 1
        let filled = Int(fraction * Double(width))
        var text = (bar.label.isEmpty ? "" : bar.label + " ") + "▕" + String(repeating: "█", count: filled) + String(repeating: " ", count: width - filled) + "▏ \(bar.done)/\(bar.total)"
        if !bar.detail.isEmpty { text += "  " + bar.detail }
        let elapsed = Double(now - bar.start) / 1e9
        if bar.done > 0 && bar.done < bar.total {
            text += String(format: "  %.0f s left", elapsed / Double(bar.done) * Double(bar.total - bar.done))
        } else {
            text += String(format: "  %.1f s", elapsed)
        }
        return text
    }
}
