import ArgumentParser
import AttnKernels
import AttnLang
import Foundation

HeapTuning.keepFreedTensorsForReuse()

// Usage errors exit with status 2 (the argument parser's default is 64).
do {
    var command = try Attn.parseAsRoot()
    try command.run()
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if Attn.exitCode(for: error) == .success { Attn.exit(withError: error) }
    FileHandle.standardError.write(Data((Attn.fullMessage(for: error) + "\n").utf8))
    exit(ExitStatus.usageError.rawValue)
}
