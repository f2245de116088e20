// Large products (C more than one block, B wider than the in-place limit): each depth slice of
// a wide block of B's columns is packed into panels ONCE, by all threads, and then every chunk
// of C's rows runs its strips against those shared panels (GemmBlock.swift). Packing per chunk
// instead copied B once per row chunk (13 times for 2048^3) and spent about a seventh of the time in
// copies. Chunks are fixed row ranges and each C element still gets its depth slices in order,
// so the bits are those of the one-block loop for any thread count (and for either strip height).
extension Gemm {
    /// Columns of B packed together: a 256-deep slice of them is 1 MiB, half a core's L2.
    static let sharedColumnBlock = 1024

    static func multiplySharingPanels(_ operands: Operands, _ c: UnsafeMutablePointer<Float>, k: Int, accumulate: Bool) {
        let shape = operands.shape, m = operands.m, n = operands.n
        // With AVX-512, full strips run on the 12 x 32 tile (GemmTallStrips.swift), two strips
        // per chunk: with the panels shared, a chunk's size only sets how evenly the chunks end
        // between the two unequal cores at each slice's barrier (24 rows: 1.05x and 1.08x on
        // 2048^3 and 1024^3 against 96, in alternating runs; the 6 x 16 path was neutral to it).
        let tall = shape == .wide
        let rowChunk = tall ? MicroKernel.tallRows * 2 : shape.rows * 8
        let rowChunks = (m + rowChunk - 1) / rowChunk
        let sliceDepth = min(depthBlock, k)
        let blockWidth = min(n, sharedColumnBlock)
        let maxPanels = (blockWidth + shape.columns - 1) / shape.columns
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: maxPanels * sliceDepth * shape.columns)
        defer { packed.deallocate() }
        let shared = SharedPanels(pointer: packed)
        for columnStart in stride(from: 0, to: n, by: sharedColumnBlock) {
            let columns = columnStart..<min(n, columnStart + sharedColumnBlock)
            let panels = (columns.count + shape.columns - 1) / shape.columns
            for depthStart in stride(from: 0, to: k, by: depthBlock) {
                let slice = min(depthBlock, k - depthStart)
                Parallel.forEach(chunks: panels) { panel in
                    let first = columns.lowerBound + panel * shape.columns
                    Gemm.packPanels(operands.b + depthStart * n + first, ldb: n, depth: slice, columns: min(shape.columns, columns.upperBound - first),
                                    width: shape.columns, into: shared.pointer + panel * slice * shape.columns)
                }
                Parallel.forEach(chunks: rowChunks) { chunk in
                    let scratch = StripScratch(shape, depth: slice)
                    defer { scratch.deallocate() }
                    let rows = (chunk * rowChunk)..<min(m, (chunk + 1) * rowChunk)
                    let adds = accumulate || depthStart > 0
                    if tall {
                        operands.tallStripsTimesPanels(rows: rows, columns: columns, depthStart: depthStart, slice: slice,
                                                       panels: shared.pointer, c: c, adds: adds, scratch: scratch)
                    } else {
                        operands.stripsTimesPanels(rows: rows, columns: columns, depthStart: depthStart, slice: slice, panels: shared.pointer,
                                                   c: c, adds: adds, scratch: scratch)
                    }
                }
            }
        }
    }

    /// The packed panels, written by one parallel pass and read by the next.
    private struct SharedPanels: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
    }
}
