import Foundation
import XCTest

/// Runs the built `attn` executable as a user would: exit codes, stdin scripts, the golden runner.
final class CommandLineTests: XCTestCase {
    static var executable: URL {
        // The test bundle sits beside the products of the same build.
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("attn")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func attn(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attn-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testExecutableExists() {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: CommandLineTests.executable.path), CommandLineTests.executable.path)
    }

    func testStdinScript() throws {
        let result = try attn([], stdin: "print(1+1)\nx = [1, 2]\nlen(x)\n")
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "2\n2\n")
    }

    func testRunExitCodes() throws {
        let dir = try temporaryDirectory()
        let good = dir.appendingPathComponent("good.attn"), bad = dir.appendingPathComponent("bad.attn")
        try "x = 2\nx * 21\n".write(to: good, atomically: true, encoding: .utf8)
        try "print(\"first\")\ny = undefined_name + 1\nprint(\"never\")\n".write(to: bad, atomically: true, encoding: .utf8)
        let ok = try attn(["run", good.path])
        XCTAssertEqual(ok.status, 0)
        XCTAssertEqual(ok.stdout, "42\n")
        let failed = try attn(["run", bad.path])
        XCTAssertEqual(failed.status, 1)
        XCTAssertEqual(failed.stdout, "first\n")
        XCTAssertTrue(failed.stderr.contains("bad.attn:2:5: error: unknown name `undefined_name`"), failed.stderr)
        XCTAssertEqual(try attn(["run", dir.appendingPathComponent("missing.attn").path]).status, 2)
        XCTAssertEqual(try attn(["run"]).status, 2)
        XCTAssertEqual(try attn(["frobnicate", "--nope"]).status, 2)
        let echoed = try attn(["run", "--echo", good.path])
        XCTAssertEqual(echoed.stdout, "> x = 2\n> x * 21\n42\n")
    }

    func testReportOption() throws {
        let dir = try temporaryDirectory()
        let script = dir.appendingPathComponent("nb.attn")
        try "x = 2\n## Double\nx * 2\nplot([1, 2, 3])\n## Fails\nnope\n".write(to: script, atomically: true, encoding: .utf8)
        let markdown = dir.appendingPathComponent("nb.md"), html = dir.appendingPathComponent("nb.html")
        let result = try attn(["run", script.path, "--report", markdown.path])
        XCTAssertEqual(result.status, 1, "the script fails in its last cell")
        XCTAssertTrue(result.stdout.hasPrefix("4\n"), "output still reaches the terminal: \(result.stdout)")
        XCTAssertTrue(result.stderr.contains("report written to"), result.stderr)
        let report = try String(contentsOf: markdown, encoding: .utf8)
        XCTAssertTrue(report.contains("## Double\n\n```attn\nx * 2\nplot([1, 2, 3])\n```\n\n```text\n4\n```\n\n<svg"), report)
        XCTAssertTrue(report.contains("unknown name `nope`"), report)
        XCTAssertEqual(try attn(["run", script.path, "--report", html.path]).status, 1)
        XCTAssertTrue(try String(contentsOf: html, encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
        XCTAssertEqual(try attn(["run", script.path, "--report", dir.appendingPathComponent("nb.pdf").path]).status, 2)
    }

    func testVersionAndHelp() throws {
        let version = try attn(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertTrue(version.stdout.hasPrefix("0."), version.stdout)
        let help = try attn(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("run") && help.stdout.contains("check"), help.stdout)
    }

    func testGoldenCheckAndBless() throws {
        let dir = try temporaryDirectory()
        try "print(\"hello\")\n1 + 1\n".write(to: dir.appendingPathComponent("a.attn"), atomically: true, encoding: .utf8)
        try "hello\n3\n".write(to: dir.appendingPathComponent("a.out"), atomically: true, encoding: .utf8)
        let failing = try attn(["check", dir.path])
        XCTAssertEqual(failing.status, 1)
        XCTAssertTrue(failing.stdout.contains("-3\n+2\n"), failing.stdout)
        XCTAssertTrue(failing.stdout.hasSuffix("0 passed, 1 failed\n"), failing.stdout)
        XCTAssertEqual(try attn(["check", dir.path, "--bless"]).status, 0)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("a.out"), encoding: .utf8), "hello\n2\n")
        let passing = try attn(["check", dir.path])
        XCTAssertEqual(passing.status, 0)
        XCTAssertEqual(passing.stdout, "1 passed, 0 failed\n")
        XCTAssertEqual(try attn(["check", dir.appendingPathComponent("nothing").path]).status, 2)
    }

    func testMemoryLimitFromEnvironment() throws {
        let result = try attn([], stdin: "x = zeros(1024, 1024)\n", environment: ["ATTN_MEM_LIMIT": "1M"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("over the memory limit of 1.0 MiB"), result.stderr)
    }

    func testThreadCountDoesNotChangeResults() throws {
        let dir = try temporaryDirectory()
        let script = "x = randn(300, 40, seed=2)\ny = attention(x, x, x, heads=4, causal=true)\nz = y @ transpose(x)\nsave(y, \"y.npy\")\nsave(z, \"z.npy\")\n"
        var outputs = [Data]()
        for threads in ["1", "2", "3"] {
            let path = dir.appendingPathComponent("t\(threads).attn")
            try script.replacingOccurrences(of: "\"y.npy\"", with: "\"y\(threads).npy\"").replacingOccurrences(of: "\"z.npy\"", with: "\"z\(threads).npy\"")
                .write(to: path, atomically: true, encoding: .utf8)
            XCTAssertEqual(try attn(["run", path.path], environment: ["ATTN_THREADS": threads]).status, 0)
            outputs.append(try Data(contentsOf: dir.appendingPathComponent("y\(threads).npy")) + Data(contentsOf: dir.appendingPathComponent("z\(threads).npy")))
        }
        XCTAssertEqual(outputs[0], outputs[1])
        XCTAssertEqual(outputs[0], outputs[2])
    }
}
