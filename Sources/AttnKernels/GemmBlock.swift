// One block of a GEMM (Gemm.swift): C[rows, columns] (+)= A[rows, depth] B[depth, columns],
// depth slice by depth slice, each slice of B packed into panels and each strip of A packed
// (row-major A and A stored transposed differ only in how a strip is packed), or, for a narrow
// B, both read in place (GemmUnpacked.swift: the same bits).
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
            let tileRows = shape.rows, tileColumns = shape.columns
            let panels = (columns.count + tileColumns - 1) / tileColumns
            let strips = (rows.count + tileRows - 1) / tileRows
            let sliceDepth = min(Gemm.depthBlock, depth.count)
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: panels * sliceDepth * tileColumns)
            let packedA = UnsafeMutablePointer<Float>.allocate(capacity: strips * tileRows * sliceDepth)
            let edge = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * tileColumns)
            defer { packed.deallocate(); packedA.deallocate(); edge.deallocate() }
            var depthStart = depth.lowerBound
            while depthStart < depth.upperBound {
                let slice = min(Gemm.depthBlock, depth.upperBound - depthStart)
                let adds = accumulate || depthStart > depth.lowerBound
                Gemm.packPanels(b + depthStart * n + columns.lowerBound, ldb: n, depth: slice, columns: columns.count,
                                width: tileColumns, into: packed)
                for strip in 0..<strips {
                    let row = rows.lowerBound + strip * tileRows
                    let height = min(tileRows, rows.upperBound - row), destination = packedA + strip * tileRows * slice
                    if aTransposed {
                        MicroKernel.packATransposed(shape, rows: height, k: slice, a: aElement(row, depthStart), lda: lda, into: destination)
                    } else {
                        MicroKernel.packA(shape, rows: height, k: slice, a: aElement(row, depthStart), lda: lda, into: destination)
                    }
                }
                for panel in 0..<panels {
                    let column = columns.lowerBound + panel * tileColumns
                    let width = min(tileColumns, columns.upperBound - column)
                    let panelData = packed + panel * slice * tileColumns
                    for strip in 0..<strips {
                        let row = rows.lowerBound + strip * tileRows
                        let height = min(tileRows, rows.upperBound - row)
                        let aStrip = packedA + strip * tileRows * slice
                        let cTile = c + row * n + column
                        if height == tileRows && width == tileColumns {
                            MicroKernel.tile(shape, k: slice, a: aStrip, rowStride: 1, stepStride: tileRows, b: panelData,
                                             ldb: tileColumns, c: cTile, ldc: n, accumulate: adds)
                        } else {
                            // Packed A and B are zero-padded: run the full tile into a scratch tile
                            // and keep its valid part.
                            MicroKernel.tile(shape, k: slice, a: aStrip, rowStride: 1, stepStride: tileRows, b: panelData,
                                             ldb: tileColumns, c: edge, ldc: tileColumns, accumulate: false)
                            for r in 0..<height {
                                for j in 0..<width {
                                    let value = edge[r * tileColumns + j]
                                    cTile[r * n + j] = adds ? cTile[r * n + j] + value : value
                                }
                            }
                        }
                    }
                }
                depthStart += slice
            }
        }
    }
}
