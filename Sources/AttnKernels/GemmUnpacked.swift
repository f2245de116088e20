// C (+)= A B straight from the operands' own rows, for the small products inside a kernel's
// tiles (the attention backward's [64, keys] tiles with a head dimension of 16): there, packing
// A and B for every product costs as much as the product. A is read in place (rows `lda`
// apart, the micro-kernel's (lda, 1) stride) and so is B (rows `ldb` apart, read 32 columns at a
// time); only a partial last strip of A and a partial last panel of B are copied, zero-padded.
// With `aTransposed`, A is stored as its transpose ([k, m], rows `lda` apart) and read in place
// too. Serial: callers run it inside their own parallel chunks. Every element is the same FMA chain
// per depth slice as in Gemm.multiply, so the two give the same bits.
extension Gemm {
    /// The tile for a product whose output is a head's `width` columns: the 16-wide one when
    /// they fit it (a 32-wide tile would compute as many zero columns), else the host's over the
    /// padded width. Both give the same bits.
    static func tileShape(forWidth width: Int, padded: Int) -> (TileShape, Int) {
        width <= TileShape.narrow.columns ? (.narrow, width) : (.host, padded)
    }

    static func multiplyUnpacked(_ a: UnsafePointer<Float>, lda: Int, aTransposed: Bool = false, _ b: UnsafePointer<Float>, ldb: Int,
                                 _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int,
                                 accumulate: Bool, shape: TileShape = .host) {
        guard m > 0, n > 0 else { return }
        let tileRows = shape.rows, tileColumns = shape.columns
        guard k > 0 else {
            if !accumulate { for r in 0..<m { (c + r * ldc).update(repeating: 0, count: n) } }
            return
        }
        let fullPanels = n / tileColumns, edgeWidth = n % tileColumns
        let panels = fullPanels + (edgeWidth > 0 ? 1 : 0)
        let slice = min(depthBlock, k)
        // Scratch for a partial last panel, strip and tile: one block, and none when C is whole
        // tiles (the attention tiles, called thousands of times per training step).
        let hasEdges = edgeWidth > 0 || m % tileRows != 0
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: hasEdges ? (slice + tileRows) * tileColumns + tileRows * slice : 0)
        defer { scratch.deallocate() }
        let edgePanel = scratch, edgeTile = scratch + slice * tileColumns, edgeStrip = edgeTile + tileRows * tileColumns
        var depthStart = 0
        while depthStart < k {
            let depth = min(depthBlock, k - depthStart)
            let adds = accumulate || depthStart > 0
            if edgeWidth > 0 {
                for p in 0..<depth {
                    let row = edgePanel + p * tileColumns
                    row.update(from: b + (depthStart + p) * ldb + fullPanels * tileColumns, count: edgeWidth)
                    (row + edgeWidth).update(repeating: 0, count: tileColumns - edgeWidth)
                }
            }
            for stripStart in stride(from: 0, to: m, by: tileRows) {
                let height = min(tileRows, m - stripStart)
                // A's element (r, p) of this strip is at strip[r * rowStride + p * stepStride].
                var strip = aTransposed ? a + depthStart * lda + stripStart : a + stripStart * lda + depthStart
                var (rowStride, stepStride) = aTransposed ? (1, lda) : (lda, 1)
                if height < tileRows {
                    edgeStrip.update(repeating: 0, count: tileRows * depth)
                    for r in 0..<height { for p in 0..<depth { edgeStrip[r * depth + p] = strip[r * rowStride + p * stepStride] } }
                    (strip, rowStride, stepStride) = (UnsafePointer(edgeStrip), depth, 1)
                }
                for panel in 0..<panels {
                    let column = panel * tileColumns
                    let isEdge = panel == fullPanels
                    let panelData = isEdge ? UnsafePointer(edgePanel) : b + depthStart * ldb + column
                    let width = isEdge ? edgeWidth : tileColumns
                    let cTile = c + stripStart * ldc + column
                    if height == tileRows && width == tileColumns {
                        MicroKernel.tile(shape, k: depth, a: strip, rowStride: rowStride, stepStride: stepStride, b: panelData,
                                         ldb: isEdge ? tileColumns : ldb, c: cTile, ldc: ldc, accumulate: adds)
                    } else {
                        MicroKernel.tile(shape, k: depth, a: strip, rowStride: rowStride, stepStride: stepStride, b: panelData,
                                         ldb: isEdge ? tileColumns : ldb, c: edgeTile, ldc: tileColumns, accumulate: false)
                        for r in 0..<height {
                            for j in 0..<width {
                                let value = edgeTile[r * tileColumns + j]
                                cTile[r * ldc + j] = adds ? cTile[r * ldc + j] + value : value
                            }
                        }
                    }
                }
            }
            depthStart += depth
        }
    }
}
