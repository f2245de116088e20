import Foundation

// Every tensor allocation asks here first, so that `zeros(1e6, 1e6)` is refused with a clear
// error instead of being attempted. The limit is read once from ATTN_MEM_LIMIT (bytes, or with a
// K/M/G/T suffix); the default is 8 GiB.
public enum MemoryLimit {
    public static let defaultBytes = 8 << 30

    public static let bytes: Int = {
        guard let text = ProcessInfo.processInfo.environment["ATTN_MEM_LIMIT"],
              let parsed = parse(text) else { return defaultBytes }
        return parsed
    }()

    /// Parses "4096", "512M", "8G", "1.5G"; nil when the text is not a size.
    public static func parse(_ text: String) -> Int? {
        var body = text.trimmingCharacters(in: .whitespaces).uppercased()
        if body.hasSuffix("IB") { body.removeLast(2) } else if body.hasSuffix("B") { body.removeLast() }
        var factor = 1.0
        if let last = body.last, let power = "KMGT".firstIndex(of: last) {
            factor = pow(1024, Double("KMGT".distance(from: "KMGT".startIndex, to: power) + 1))
            body.removeLast()
        }
        guard let value = Double(body), value > 0, value * factor < 9e18 else { return nil }
        return Int(value * factor)
    }

    /// The element count of `shape`, refusing negative sizes, overflow and anything over the limit.
    public static func checkedCount(_ shape: [Int], bytesPerElement: Int = 4) throws -> Int {
        var count = 1
        for size in shape {
            guard size >= 0 else { throw KernelError.invalidShape("negative dimension in shape \(formatShape(shape))") }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw KernelError.memoryLimit(requested: Int.max, limit: bytes) }
            count = product
        }
        try reserve(count, bytesPerElement: bytesPerElement)
        return count
    }

    /// Refuses `count` elements of `bytesPerElement` when over the limit.
    public static func reserve(_ count: Int, bytesPerElement: Int = 4) throws {
        let (total, overflow) = count.multipliedReportingOverflow(by: bytesPerElement)
        if overflow || total > bytes {
            throw KernelError.memoryLimit(requested: overflow ? Int.max : total, limit: bytes)
        }
    }
}
