import Foundation
import Synchronization

// Work is split into a FIXED list of chunks that does not depend on the thread count, and each
// chunk writes its own output, so results are bit-identical for 1 thread or many. ATTN_THREADS
// sets how many workers pick up chunks (default: all cores).
public enum Parallel {
    public static let threadCount: Int = {
        if let text = ProcessInfo.processInfo.environment["ATTN_THREADS"], let n = Int(text), n > 0 {
            return min(n, 256)
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(rows)` over fixed ranges of rows of a [rows, columns] matrix, about 16K
    /// elements each, for row-independent work.
    public static func forEachRowChunk(rows: Int, columns: Int, _ body: (Range<Int>) -> Void) {
        let perChunk = max(1, (1 << 14) / max(1, columns))
        forEach(chunks: (rows + perChunk - 1) / perChunk) { chunk in
            body((chunk * perChunk)..<min(rows, (chunk + 1) * perChunk))
        }
    }

    /// Runs `body(chunk)` for every chunk in 0..<chunks. Each worker takes the next chunk not yet
    /// taken: on a shared machine one core can run slower than the other for a while, and a fixed
    /// assignment would leave the fast one waiting. Which worker runs a chunk never changes what
    /// the chunk computes.
    public static func forEach(chunks: Int, _ body: (Int) -> Void) {
        let workers = min(threadCount, chunks)
        if workers <= 1 {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let chunk = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if chunk >= chunks { return }
                body(chunk)
            }
        }
    }
}

// Ctrl-C in the REPL sets this flag; long kernels poll it between tiles and stop with
// KernelError.cancelled. It is the only process-wide state in the kernels, and it is atomic.
public enum Cancellation {
    private static let flag = Atomic<Bool>(false)

    public static func request() { flag.store(true, ordering: .relaxed) }
    public static func reset() { flag.store(false, ordering: .relaxed) }
    public static var isRequested: Bool { flag.load(ordering: .relaxed) }

    public static func check() throws {
        if isRequested { throw KernelError.cancelled }
    }
}
