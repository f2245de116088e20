import Foundation

// Figures as standalone SVG (well-formed XML, no scripts, no external references), for reports
// and `:plot file.svg`.
public enum SVGFigure {
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func number(_ value: Double) -> String { String(format: "%.1f", value) }

    public static func render(_ figure: Figure) -> String? {
        switch figure {
        case let .plot(p): return plot(p)
        case let .heatmap(h): return heatmap(h)
        case .table: return nil
        }
    }

    static func plot(_ plot: PlotFigure) -> String {
        let width = 640.0, height = 400.0
        let left = 70.0, right = 20.0, top = plot.title == nil ? 20.0 : 40.0, bottom = 60.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let xAxis = plot.xAxis, yAxis = plot.yAxis
        func px(_ x: Double) -> Double { left + xAxis.fraction(x) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - yAxis.fraction(y)) * plotHeight }

        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>\n"
        if let title = plot.title, !title.isEmpty {
            out += "<text x=\"\(number(width / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(escape(title))</text>\n"
        }
        for value in yAxis.ticks {
            let y = py(value)
            out += "<line x1=\"\(number(left))\" y1=\"\(number(y))\" x2=\"\(number(left + plotWidth))\" y2=\"\(number(y))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(number(left - 6))\" y=\"\(number(y + 4))\" text-anchor=\"end\">\(escape(Ticks.label(value)))</text>\n"
        }
        for value in xAxis.ticks {
            let x = px(value)
            out += "<line x1=\"\(number(x))\" y1=\"\(number(top))\" x2=\"\(number(x))\" y2=\"\(number(top + plotHeight))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(number(x))\" y=\"\(number(top + plotHeight + 18))\" text-anchor=\"middle\">\(escape(Ticks.label(value)))</text>\n"
        }
        out += "<rect x=\"\(number(left))\" y=\"\(number(top))\" width=\"\(number(plotWidth))\" height=\"\(number(plotHeight))\" fill=\"none\" stroke=\"#444\"/>\n"
        if !plot.xLabel.isEmpty {
            out += "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(height - 22))\" text-anchor=\"middle\">\(escape(plot.xLabel))</text>\n"
        }
        if !plot.yLabel.isEmpty {
            out += "<text transform=\"translate(16 \(number(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(plot.yLabel))</text>\n"
        }
        for (index, series) in plot.series.enumerated() {
            let colour = palette[index % palette.count]
            let drawable = plot.drawable(series)
            let points = drawable.map { "\(number(px($0.0))),\(number(py($0.1)))" }
            out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            for (x, y) in drawable {
                out += "<circle cx=\"\(number(px(x)))\" cy=\"\(number(py(y)))\" r=\"3\" fill=\"\(colour)\"/>\n"
            }
        }
        let named = plot.series.enumerated().filter { !$0.element.name.isEmpty }
        if !named.isEmpty {
            let longest = Double(named.map(\.element.name.count).max() ?? 0)
            let boxWidth = 34 + longest * 7, boxHeight = Double(named.count) * 18 + 8
            let boxLeft = left + 10
            out += "<rect x=\"\(number(boxLeft))\" y=\"\(number(top + 10))\" width=\"\(number(boxWidth))\" height=\"\(number(boxHeight))\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#bbb\"/>\n"
            for (row, entry) in named.enumerated() {
                let y = top + 10 + 16 + Double(row) * 18
                let colour = palette[entry.offset % palette.count]
                out += "<line x1=\"\(number(boxLeft + 8))\" y1=\"\(number(y - 4))\" x2=\"\(number(boxLeft + 26))\" y2=\"\(number(y - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
                out += "<text x=\"\(number(boxLeft + 30))\" y=\"\(number(y))\">\(escape(entry.element.name))</text>\n"
            }
        }
        return out + "</svg>\n"
    }

    /// Viridis-like colours: a few stops of matplotlib's viridis, interpolated.
    static let stops: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]

    static func colour(_ level: Double) -> String {
        let position = max(0, min(1, level)) * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(position)), t = position - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        let mix = { (u: Double, v: Double) in Int((u + (v - u) * t).rounded()) }
        return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    static func heatmap(_ heatmap: HeatmapFigure) -> String {
        let shown = heatmap.downsampled(limit: 96)
        // The longer side is 360 px and the other follows the matrix's shape (at least 60 px).
        let longest = 360.0, left = 20.0, top = heatmap.title == nil ? 20.0 : 40.0
        let aspect = Double(heatmap.rows) / Double(heatmap.columns)
        let mapWidth = aspect > 1 ? max(60, longest / aspect) : longest
        let mapHeight = aspect > 1 ? longest : max(60, longest * aspect)
        let cellWidth = mapWidth / Double(shown.columns), cellHeight = mapHeight / Double(shown.rows)
        let width = max(left + mapWidth + 100, 240), height = top + mapHeight + 40
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>\n"
        if let title = heatmap.title, !title.isEmpty {
            out += "<text x=\"\(number(left + mapWidth / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(escape(title))</text>\n"
        }
        for r in 0..<shown.rows {
            for c in 0..<shown.columns {
                let fill = colour(heatmap.level(shown.values[r * shown.columns + c]))
                out += "<rect x=\"\(number(left + Double(c) * cellWidth))\" y=\"\(number(top + Double(r) * cellHeight))\" width=\"\(number(cellWidth + 0.5))\" height=\"\(number(cellHeight + 0.5))\" fill=\"\(fill)\"/>\n"
            }
        }
        out += "<text x=\"\(number(left))\" y=\"\(number(top + mapHeight + 18))\">[\(heatmap.rows), \(heatmap.columns)]\(shown.rows != heatmap.rows || shown.columns != heatmap.columns ? ", block means" : "")</text>\n"
        let barLeft = left + mapWidth + 20
        for step in 0..<20 {
            let y = top + Double(step) * mapHeight / 20
            out += "<rect x=\"\(number(barLeft))\" y=\"\(number(y))\" width=\"16\" height=\"\(number(mapHeight / 20 + 0.5))\" fill=\"\(colour(1 - Double(step) / 19))\"/>\n"
        }
        let (lo, hi) = heatmap.range
        out += "<text x=\"\(number(barLeft + 22))\" y=\"\(number(top + 10))\">\(escape(Ticks.label(hi)))</text>\n"
        out += "<text x=\"\(number(barLeft + 22))\" y=\"\(number(top + mapHeight))\">\(escape(Ticks.label(lo)))</text>\n"
        return out + "</svg>\n"
    }
}
