import Foundation

// Errors a kernel raises for input a user can get wrong. The language layer turns them into
// diagnostics with a caret; kernels never trap on user input.
public enum KernelError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(String, [Int], [Int])
    case invalidShape(String)
    case invalidArgument(String)
    case memoryLimit(requested: Int, limit: Int)
    case fileFormat(String)
    case io(String)
    case cancelled

    public var description: String {
        switch self {
        case let .shapeMismatch(what, a, b):
            return "\(what) (shapes \(formatShape(a)) and \(formatShape(b)))"
        case let .invalidShape(message), let .invalidArgument(message), let .fileFormat(message), let .io(message):
            return message
        case let .memoryLimit(requested, limit):
            return "allocation of \(formatBytes(requested)) refused: over the memory limit of \(formatBytes(limit)) (set ATTN_MEM_LIMIT to change it)"
        case .cancelled:
            return "interrupted"
        }
    }
}

public func formatShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

public func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
