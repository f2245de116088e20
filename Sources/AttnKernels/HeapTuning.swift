import Foundation

// Freed tensor buffers stay in the heap for the next tensor of their size: by default glibc
// returns large blocks to the kernel, and a training step then spent about a tenth of its time
// in page faults zeroing fresh pages for tensors it had just freed. Blocks above 32 MiB are still
// mapped on their own, and at most 128 MiB of free heap is kept. Peak-memory measurements set
// their own threshold (ResidentMemory.measurePeak), so they still see every allocation.
public enum HeapTuning {
    /// For the command-line tool, once at start; a no-op where the C library is not glibc.
    public static func keepFreedTensorsForReuse() {
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: ResidentMemory.MallOpt.self)
        let (mmapThreshold, trimThreshold): (Int32, Int32) = (-3, -1)  // M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, 128 << 20)
    }
}
