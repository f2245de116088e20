import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Peak memory of one computation, as the kernel counts it: Linux keeps a high-water mark of the
// resident set (VmHWM) that writing "5" to /proc/self/clear_refs resets to the current size. A
// sampling thread would miss short peaks; this cannot. Memory an earlier computation freed must
// not be reused unseen, so large blocks are kept out of the heap (a fixed mmap threshold: glibc
// otherwise raises it after each large free and serves the next large block from cached heap
// pages) and free heap pages are handed back (malloc_trim) before each measurement.
public enum ResidentMemory {
    public enum ProbeError: Error, CustomStringConvertible {
        case unavailable(String)
        public var description: String {
            switch self { case .unavailable(let why): return "peak memory cannot be measured here: \(why)" }
        }
    }

    /// Runs `body` and returns its value with the peak resident bytes it added above what the
    /// process held when it started (its inputs are already resident, so they are not counted).
    public static func measurePeak<T>(_ body: () throws -> T) throws -> (value: T, peakBytes: Int) {
        _ = largeBlocksMapped
        _ = mallocTrim?(0)
        try resetHighWaterMark()
        let baseline = try statusBytes("VmRSS")
        let value = try body()
        let peak = try statusBytes("VmHWM")
        return (value, max(0, peak - baseline))
    }

    /// glibc's malloc_trim, which Swift's Glibc module does not export; nil on other C libraries.
    typealias MallocTrim = @convention(c) (Int) -> Int32
    static let mallocTrim: MallocTrim? = dlsym(nil, "malloc_trim").map { unsafeBitCast($0, to: MallocTrim.self) }

    typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
    /// Set once, on first use: mallopt(M_MMAP_THRESHOLD = -3, 128 KiB), which also stops glibc
    /// from moving the threshold.
    static let largeBlocksMapped: Bool = {
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        return unsafeBitCast(symbol, to: MallOpt.self)(-3, 128 * 1024) == 1
    }()

    static func resetHighWaterMark() throws {
        do {
            try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        } catch {
            throw ProbeError.unavailable("/proc/self/clear_refs is not writable (Linux 4.0 or later is needed)")
        }
    }

    /// A `kB` field of /proc/self/status, in bytes.
    static func statusBytes(_ field: String) throws -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else {
            throw ProbeError.unavailable("/proc/self/status cannot be read")
        }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let digits = line.dropFirst(field.count + 1).filter(\.isNumber)
            if let kilobytes = Int(digits) { return kilobytes * 1024 }
        }
        throw ProbeError.unavailable("/proc/self/status has no \(field) field")
    }
}
