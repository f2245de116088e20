import Foundation
import XCTest

/// Drives the REPL on a real terminal through tmux: prompts, Out[n], completion, multi-line
/// input, errors that keep the session, Ctrl-C during a computation and at the prompt, history.
final class ReplTests: XCTestCase {
    var session = ""
    var socketName = ""
    var home: URL!

    /// Runs tmux on this test's own server (`-L`), so a user's tmux is never touched and every
    /// test starts a server of its own, as CI does. It is spawned with every descriptor above
    /// stderr closed: the first command starts the server, which stays behind holding whatever
    /// it inherited, and Foundation's `Process` waits for EOF on a socket its child inherits, so
    /// `Process` never saw that child end (CI hung there until its time limit).
    @discardableResult
    func tmux(_ arguments: [String], capture: Bool = false) throws -> String {
        var output: [Int32] = [-1, -1]
        if capture { guard pipe(&output) == 0 else { throw TmuxError(arguments: arguments, status: -1) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if capture {
            posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        guard let closeFrom = ReplTests.addCloseFrom else { throw TmuxError(arguments: arguments, status: -1) }
        _ = closeFrom(&actions, 3)

        let argv: [UnsafeMutablePointer<CChar>?] = (["tmux", "-L", socketName] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, "tmux", &actions, nil, argv, environ)
        var data = Data()
        if capture {
            close(output[1])
            let handle = FileHandle(fileDescriptor: output[0], closeOnDealloc: true)
            if spawned == 0 { data = handle.readDataToEndOfFile() }
        }
        guard spawned == 0 else { throw TmuxError(arguments: arguments, status: -1) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exitedNormally = status & 0x7f == 0, exitCode = (status >> 8) & 0xff
        guard exitedNormally && exitCode == 0 else { throw TmuxError(arguments: arguments, status: status) }
        return String(decoding: data, as: UTF8.self)
    }

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which Swift's Glibc module does not export.
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddCloseFrom.self) }

    struct TmuxError: Error {
        var arguments: [String]
        var status: Int32
    }

    func screen() throws -> String { try tmux(["capture-pane", "-t", session, "-p", "-S", "-200"], capture: true) }

    /// Waits until the screen contains `text` (the REPL answered), failing after a timeout.
    /// capture-pane drops trailing spaces, so `text` should not end with one.
    @discardableResult
    func waitFor(_ text: String, occurrences: Int = 1, timeout: Double = 20) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let current = try screen()
            if current.components(separatedBy: text).count - 1 >= occurrences { return current }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let current = try screen()
        XCTFail("timed out waiting for \(text.debugDescription); screen:\n\(current)")
        return current
    }

    func send(_ keys: String...) throws { try tmux(["send-keys", "-t", session] + keys) }

    override func setUpWithError() throws {
        session = "attn-test-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        socketName = session
        guard (try? tmux(["-V"], capture: true))?.hasPrefix("tmux") == true else { throw XCTSkip("tmux is not installed (.ci/run installs it)") }
        home = FileManager.default.temporaryDirectory.appendingPathComponent(session)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let command = "HOME=\(home.path) TERM=xterm \(CommandLineTests.executable.path)"
        try tmux(["new-session", "-d", "-s", session, "-x", "100", "-y", "40", command])
        try waitFor("In [1]:")
    }

    override func tearDownWithError() throws {
        try? tmux(["kill-server"])
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

        // Plots, :plot again, and the session saved as a notebook.
        try send("plot([1, 4, 9], title=\"plotted squares\")", "Enter")
        try waitFor("  plotted squares")  // the title, centred over the plot
        try send(":plot", "Enter")
        try waitFor("plotted squares", occurrences: 3)  // the input line, the plot, and the plot again
        let notebook = home.appendingPathComponent("session.md").path
        try send(":save \(notebook)", "Enter")
        try waitFor("cells to")
        let saved = try String(contentsOfFile: notebook, encoding: .utf8)
        XCTAssertTrue(saved.contains("## In [5]\n\n```attn\ntwice(21)\n```\n\n```text\nOut[5]: 42\n```"), saved)
        XCTAssertTrue(saved.contains("<svg"), saved)

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
