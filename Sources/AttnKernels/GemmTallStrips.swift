// The shared-panel loop of large products (GemmSharedPanels.swift) with 12-row strips of A on
// the 12 x 32 tile (MicroKernelTall.swift). Only full strips against full panels take the tall
// tile; a chunk's last rows and a block's last narrow panel go through `stripsTimesPanels`,
// which gives the same bits, so where the edges fall never changes the result.
extension Gemm.Operands {
    func tallStripsTimesPanels(rows: Range<Int>, columns: Range<Int>, depthStart: Int, slice: Int, panels: UnsafePointer<Float>,
                               c: UnsafeMutablePointer<Float>, adds: Bool, scratch: Gemm.StripScratch) {
        let stripRows = MicroKernel.tallRows, panelWidth = 32
        let fullPanels = columns.count / panelWidth
        var row = rows.lowerBound
        while row + stripRows <= rows.upperBound {
            packStrip(row: row, rows: stripRows, height: stripRows, depthStart: depthStart, slice: slice, into: scratch.strip)
            for panel in 0..<fullPanels {
                MicroKernel.packedTile12x32(k: slice, a: scratch.strip, b: panels + panel * slice * panelWidth,
                                            c: c + row * n + columns.lowerBound + panel * panelWidth, ldc: n, accumulate: adds)
            }
            if fullPanels * panelWidth < columns.count {
                stripsTimesPanels(rows: row..<(row + stripRows), columns: (columns.lowerBound + fullPanels * panelWidth)..<columns.upperBound,
                                  depthStart: depthStart, slice: slice, panels: panels + fullPanels * slice * panelWidth, c: c, adds: adds,
                                  scratch: scratch)
            }
            row += stripRows
        }
        if row < rows.upperBound {
            stripsTimesPanels(rows: row..<rows.upperBound, columns: columns, depthStart: depthStart, slice: slice, panels: panels, c: c,
                              adds: adds, scratch: scratch)
        }
    }
}
