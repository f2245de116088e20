import Foundation
import XCTest

/// Drives the REPL on a real terminal through tmux: prompts, Out[n], completion, multi-line
/// input, errors that keep the session, Ctrl-C during a computation and at the prompt, history.
final class ReplTests: XCTestCase {
    var session = ""
    var home: URL!

    /// Runs tmux; only `capture` reads its output, because a command that starts the tmux server
    /// leaves the server holding any pipe it was given, and reading that pipe would never end.
    @discardableResult
    func tmux(_ arguments: [String], capture: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["tmux"] + arguments
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let out = Pipe()
        process.standardOutput = capture ? out : FileHandle.nullDevice
        try process.run()
        let data = capture ? out.fileHandleForReading.readDataToEndOfFile() : Data()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TmuxError(arguments: arguments, status: process.terminationStatus) }
        return String(decoding: data, as: UTF8.self)
    }

    struct TmuxError: Error {
        var arguments: [String]
        var status: Int32
    }

    func screen() throws -> String { try tmux(["capture-pane", "-t", session, "-p", "-S", "-200"], capture: true) }

    /// Waits until the screen contains `text` (the REPL answered), failing after a timeout.
    /// capture-pane drops trailing spaces, so `text` should not end with one.
    @discardableResult
    func waitFor(_ text: String, timeout: Double = 20) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let current = try screen()
            if current.contains(text) { return current }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let current = try screen()
        XCTFail("timed out waiting for \(text.debugDescription); screen:\n\(current)")
        return current
    }

    func send(_ keys: String...) throws { try tmux(["send-keys", "-t", session] + keys) }

    override func setUpWithError() throws {
        guard (try? tmux(["-V"], capture: true))?.hasPrefix("tmux") == true else { throw XCTSkip("tmux is not installed (.ci/run installs it)") }
        session = "attn-test-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        home = FileManager.default.temporaryDirectory.appendingPathComponent(session)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let command = "HOME=\(home.path) TERM=xterm \(CommandLineTests.executable.path)"
        try tmux(["new-session", "-d", "-s", session, "-x", "100", "-y", "40", command])
        try waitFor("In [1]:")
    }

    override func tearDownWithError() throws {
        try? tmux(["kill-session", "-t", session])
        if let home { try? FileManager.default.removeItem(at: home) }
    }

    func testSessionFeatures() throws {
        try send("x = randn(3, 2, seed=1)", "Enter")
        try waitFor("In [2]:")
        try send("x.shape", "Enter")
        try waitFor("Out[2]: [3, 2]")
        try send("_ + [7]", "Enter")
        try waitFor("Out[3]: [3, 2, 7]")

        // Multi-line input continues while a brace is open.
        try send("fn twice(a) {", "Enter")
        try waitFor("   ...:")
        try send("return a * 2", "Enter", "}", "Enter")
        try waitFor("In [5]:")
        try send("twice(21)", "Enter")
        try waitFor("Out[5]: 42")

        // Completion: builtin names and keyword arguments.
        try send("y = attenti", "Tab")
        try waitFor("y = attention")
        try send("(x, x, x, caus", "Tab")
        try waitFor("y = attention(x, x, x, causal=")
        try send("true)", "Enter")
        try waitFor("In [7]:")
        try send("y.tok", "Tab")
        try waitFor("y.tokens")
        try send("Enter")
        try waitFor("Out[7]: 2.0")

        // An error keeps the session and its variables.
        try send("atention(x)", "Enter")
        try waitFor("help: did you mean `attention`?")
        try send("twice(x.shape[0])", "Enter")
        try waitFor("Out[9]: 6")

        // The researcher's pipeline, as written.
        try send("x = randn(64, 8); q = randn(3, 8)", "Enter")
        try send("ctx = encode(x); t = tree(ctx); tca(q, t, depth=log)", "Enter")
        try waitFor("Tensor[3, 8] f32 {tokens: 5.0")

        // Commands.
        try send(":vars", "Enter")
        try waitFor("twice: function")
        try send(":help softmax", "Enter")
        try waitFor("softmax(x: tensor, axis: int = -1)")
        try send(":time 1 + 1", "Enter")
        try waitFor("time:")

        try send(":quit", "Enter")
        Thread.sleep(forTimeInterval: 0.5)
        let history = try String(contentsOf: home.appendingPathComponent(".attn_history"), encoding: .utf8)
        XCTAssertTrue(history.contains("twice(21)"), history)
    }

    func testControlCCancelsAndKeepsSession() throws {
        try send("n = 0; while true { n += 1 }", "Enter")
        Thread.sleep(forTimeInterval: 1.0)
        try send("C-c")
        try waitFor("error: interrupted")
        try waitFor("In [2]:")
        try send("n > 0", "Enter")
        try waitFor("Out[2]: true")

        // Ctrl-C inside a kernel (a long attention) cancels it too.
        try send("q = randn(40000, 64); z = attention(q, q, q)", "Enter")
        Thread.sleep(forTimeInterval: 1.5)
        try send("C-c")
        try waitFor("the computation was cancelled")
        try send("q.shape", "Enter")
        try waitFor("[40000, 64]")

        // Ctrl-C at the prompt abandons the line being typed.
        try send("this is not valid")
        try waitFor("this is not valid")
        try send("C-c")
        try send("1 + 2", "Enter")
        let screen = try waitFor("Out[")
        XCTAssertFalse(screen.contains("expected end of statement"), screen)
        try waitFor("]: 3")

        // Ctrl-D leaves: the session's only program ends, and tmux closes the session.
        try send("C-d")
        let deadline = Date().addingTimeInterval(10)
        while (try? tmux(["has-session", "-t", session])) != nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertNil(try? tmux(["has-session", "-t", session]), "the REPL did not exit on Ctrl-D")
    }
}
