// A 2-D tensor as a heatmap. Large matrices are shown block-averaged (at most `maxCells` a side
// in the terminal), so `heatmap(weights(q, k))` of a 1024 x 1024 matrix still fits a screen.
public struct HeatmapFigure {
    public var title: String?
    public var rows: Int
    public var columns: Int
    public var values: [Double]  // rows * columns, row-major

    static let shades: [Character] = [" ", "·", "░", "▒", "▓", "█"]
    static let terminalCells = 32

    var range: (lo: Double, hi: Double) {
        let finite = values.filter(\.isFinite)
        return (finite.min() ?? 0, finite.max() ?? 0)
    }

    /// The matrix averaged over blocks so that it is at most `limit` rows and columns.
    func downsampled(limit: Int) -> (rows: Int, columns: Int, values: [Double]) {
        let outRows = min(rows, limit), outColumns = min(columns, limit)
        var out = [Double](repeating: 0, count: outRows * outColumns)
        for r in 0..<outRows {
            let r0 = r * rows / outRows, r1 = max(r0 + 1, (r + 1) * rows / outRows)
            for c in 0..<outColumns {
                let c0 = c * columns / outColumns, c1 = max(c0 + 1, (c + 1) * columns / outColumns)
                var sum = 0.0
                for i in r0..<r1 { for j in c0..<c1 { sum += values[i * columns + j] } }
                out[r * outColumns + c] = sum / Double((r1 - r0) * (c1 - c0))
            }
        }
        return (outRows, outColumns, out)
    }

    /// Where `value` falls between the smallest and largest value, in [0, 1].
    func level(_ value: Double) -> Double {
        let (lo, hi) = range
        guard value.isFinite, hi > lo else { return 0 }
        return (value - lo) / (hi - lo)
    }

    public var terminalText: String {
        let shown = downsampled(limit: HeatmapFigure.terminalCells)
        let (lo, hi) = range
        var lines = [String]()
        var header = "heatmap [\(rows), \(columns)]"
        if let title, !title.isEmpty { header = title + "  " + header }
        if shown.rows != rows || shown.columns != columns { header += ", shown as \(shown.rows) x \(shown.columns) block means" }
        lines.append(header)
        lines.append("┌" + String(repeating: "─", count: shown.columns * 2) + "┐")
        for r in 0..<shown.rows {
            let cells = (0..<shown.columns).map { c -> String in
                let shade = HeatmapFigure.shades[min(HeatmapFigure.shades.count - 1, Int(level(shown.values[r * shown.columns + c]) * Double(HeatmapFigure.shades.count - 1) + 0.5))]
                return String([shade, shade])
            }
            lines.append("│" + cells.joined() + "│")
        }
        lines.append("└" + String(repeating: "─", count: shown.columns * 2) + "┘")
        lines.append("scale: " + HeatmapFigure.shades.dropFirst().map { String($0) }.joined() + "  " + Ticks.label(lo) + " .. " + Ticks.label(hi) + " (blank is the minimum)")
        return lines.joined(separator: "\n") + "\n"
    }
}
