// One block of a GEMM (Gemm.swift): C[rows, columns] (+)= A[rows, depth] B[depth, columns],
// depth slice by depth slice, each slice of B packed into panels and each strip of A packed
// (row-major A and A stored transposed differ only in how a strip is packed), or, for a narrow
// B, both read in place (GemmUnpacked.swift: the same bits). The strip-by-panels loop here is
// also what the large products' shared-panel path (GemmSharedPanels.swift) runs in parallel.
extension Gemm {
    struct Operands: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let lda: Int
        let aTransposed: Bool
        let b: UnsafePointer<Float>
        let m, n: Int
        let shape: TileShape

        /// A pointer to A's element (row, step).
        func aElement(_ row: Int, _ step: Int) -> UnsafePointer<Float> {
            aTransposed ? a + step * lda + row : a + row * lda + step
        }

        /// Packs A's rows [row, row + rows) x the depth slice into a strip `height` rows tall.
        func packStrip(row: Int, rows: Int, height: Int, depthStart: Int, slice: Int, into strip: UnsafeMutablePointer<Float>) {
            if aTransposed {
                MicroKernel.packATransposed(height: height, rows: rows, k: slice, a: aElement(row, depthStart), lda: lda, into: strip)
            } else {
                MicroKernel.packA(height: height, rows: rows, k: slice, a: aElement(row, depthStart), lda: lda, into: strip)
            }
        }

        /// C's rows and columns are those of the whole product (C has n columns); the first depth
        /// slice overwrites C unless `accumulate`, later ones add. A narrow B (a linear layer's
        /// weights, a weight gradient's upstream) is small enough to be read in place, and so is
        /// A's strip: packing them would copy all of A once per product for nothing.
        func block(rows: Range<Int>, columns: Range<Int>, depth: Range<Int>, c: UnsafeMutablePointer<Float>, accumulate: Bool) {
            guard n <= Gemm.inPlaceMaxColumns else {
                return packedBlock(rows: rows, columns: columns, depth: depth, c: c, accumulate: accumulate)
            }
            Gemm.multiplyUnpacked(aElement(rows.lowerBound, depth.lowerBound), lda: lda, aTransposed: aTransposed,
                                  b + depth.lowerBound * n + columns.lowerBound, ldb: n, c + rows.lowerBound * n + columns.lowerBound,
                                  ldc: n, m: rows.count, n: columns.count, k: depth.count, accumulate: accumulate, shape: shape)
        }

        /// `block` with both operands packed (the BLIS layout).
        func packedBlock(rows: Range<Int>, columns: Range<Int>, depth: Range<Int>, c: UnsafeMutablePointer<Float>, accumulate: Bool) {
            let panels = (columns.count + shape.columns - 1) / shape.columns
            let sliceDepth = min(Gemm.depthBlock, depth.count)
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: panels * sliceDepth * shape.columns)
            let scratch = StripScratch(shape, depth: sliceDepth)
            defer { packed.deallocate(); scratch.deallocate() }
            var depthStart = depth.lowerBound
            while depthStart < depth.upperBound {
                let slice = min(Gemm.depthBlock, depth.upperBound - depthStart)
                Gemm.packPanels(b + depthStart * n + columns.lowerBound, ldb: n, depth: slice, columns: columns.count,
                                width: shape.columns, into: packed)
                stripsTimesPanels(rows: rows, columns: columns, depthStart: depthStart, slice: slice, panels: packed, c: c,
                                  adds: accumulate || depthStart > depth.lowerBound, scratch: scratch)
                depthStart += slice
            }
        }

        /// For one depth slice [depthStart, +slice): packs each strip of A's `rows` in turn and
        /// multiplies it by every packed panel of B's `columns` (so the strip stays in L1 while
        /// the panels stream past). `adds` adds to C instead of overwriting it.
        func stripsTimesPanels(rows: Range<Int>, columns: Range<Int>, depthStart: Int, slice: Int, panels: UnsafePointer<Float>,
                               c: UnsafeMutablePointer<Float>, adds: Bool, scratch: StripScratch) {
            let tileRows = shape.rows, tileColumns = shape.columns
            let panelCount = (columns.count + tileColumns - 1) / tileColumns
            for row in stride(from: rows.lowerBound, to: rows.upperBound, by: tileRows) {
                let height = min(tileRows, rows.upperBound - row)
                packStrip(row: row, rows: height, height: tileRows, depthStart: depthStart, slice: slice, into: scratch.strip)
                for panel in 0..<panelCount {
                    let column = columns.lowerBound + panel * tileColumns
                    let width = min(tileColumns, columns.upperBound - column)
                    let panelData = panels + panel * slice * tileColumns
                    let cTile = c + row * n + column
                    if height == tileRows && width == tileColumns {
                        MicroKernel.packedTile(shape, k: slice, a: scratch.strip, b: panelData, c: cTile, ldc: n, accumulate: adds)
                    } else {
                        // Packed A and B are zero-padded: run the full tile into a scratch tile
                        // and keep its valid part.
                        MicroKernel.tile(shape, k: slice, a: scratch.strip, rowStride: 1, stepStride: tileRows, b: panelData,
                                         ldb: tileColumns, c: scratch.edgeTile, ldc: tileColumns, accumulate: false)
                        for r in 0..<height {
                            for j in 0..<width {
                                let value = scratch.edgeTile[r * tileColumns + j]
                                cTile[r * n + j] = adds ? cTile[r * n + j] + value : value
                            }
                        }
                    }
                }
            }
        }
    }

    /// One packed strip of A (a tile's rows, or the tall tile's, x a depth slice) and one
    /// scratch tile for C's edges.
    struct StripScratch {
        let strip: UnsafeMutablePointer<Float>
        let edgeTile: UnsafeMutablePointer<Float>

        init(_ shape: TileShape, depth: Int) {
            let stripFloats = max(shape.rows, MicroKernel.tallRows) * depth
            strip = UnsafeMutablePointer<Float>.allocate(capacity: stripFloats + shape.rows * shape.columns)
            edgeTile = strip + stripFloats
        }

        func deallocate() { strip.deallocate() }
    }
}
