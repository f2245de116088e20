import AttnKernels
import Foundation

// What a report says about the machine it ran on: numbers mean little without it.
enum MachineInfo {
    static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown CPU"
    }

    static var summary: String {
        "\(cpuModel), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(Parallel.threadCount) threads, \(TileShape.host.rows)x\(TileShape.host.columns) micro-kernel"
    }
}
