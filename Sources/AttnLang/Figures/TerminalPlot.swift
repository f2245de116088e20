// A plot in 80 columns of text: lines drawn with braille dots (2 x 4 per character), each
// series' points marked with its own symbol (no colour, so it reads the same in a pipe, a golden
// file or a report), y ticks on the left, x ticks below, and a legend.
enum TerminalPlot {
    static let markers: [Character] = ["●", "▲", "■", "◆", "★", "✚", "○", "△"]
    static let width = 80
    static let rows = 16

    static func render(_ plot: PlotFigure) -> String {
        let xAxis = plot.xAxis, yAxis = plot.yAxis
        let yTickLabels = yAxis.ticks.map(Ticks.label)
        let labelWidth = max(1, yTickLabels.map(\.count).max() ?? 1)
        let columns = width - labelWidth - 2 - 3  // " ┤" before, room for a centred last x label after
        var canvas = BrailleCanvas(columns: columns, rows: rows)

        for (index, series) in plot.series.enumerated() {
            let points = plot.drawable(series).map { x, y in
                (Int((xAxis.fraction(x) * Double(canvas.dotColumns - 1)).rounded()),
                 Int(((1 - yAxis.fraction(y)) * Double(canvas.dotRows - 1)).rounded()))
            }
            for (a, b) in zip(points, points.dropFirst()) { canvas.line(from: a, to: b) }
            // Dense series keep about 16 markers (the last always), so the line stays visible.
            let every = max(1, (points.count + 15) / 16)
            for (i, (x, y)) in points.enumerated() where i % every == 0 || i == points.count - 1 {
                canvas.mark(column: x / 2, row: y / 4, markers[index % markers.count])
            }
        }

        var lines = [String]()
        let left = String(repeating: " ", count: labelWidth)
        if let title = plot.title, !title.isEmpty {
            lines.append(String(repeating: " ", count: max(0, labelWidth + 2 + (columns - title.count) / 2)) + title)
        }
        if !plot.yLabel.isEmpty { lines.append(plot.yLabel) }
        var tickRows = [Int: String]()
        for (value, label) in zip(yAxis.ticks, yTickLabels) {
            tickRows[Int(((1 - yAxis.fraction(value)) * Double(rows - 1)).rounded())] = label
        }
        for row in 0..<rows {
            if let label = tickRows[row] {
                lines.append(String(repeating: " ", count: labelWidth - label.count) + label + " ┤" + canvas.text(row: row))
            } else {
                lines.append(left + " │" + canvas.text(row: row))
            }
        }

        var axis = Array(repeating: Character("─"), count: columns)
        var labels = Array(repeating: Character(" "), count: width + 8)
        var nextFree = 0
        for value in xAxis.ticks {
            let column = Int((xAxis.fraction(value) * Double(columns - 1)).rounded())
            guard (0..<columns).contains(column) else { continue }
            axis[column] = "┬"
            let label = Array(Ticks.label(value))
            let start = max(0, labelWidth + 2 + column - label.count / 2)
            guard start >= nextFree, start + label.count <= labels.count else { continue }
            for (k, ch) in label.enumerated() { labels[start + k] = ch }
            nextFree = start + label.count + 1
        }
        lines.append(left + " └" + String(axis))
        lines.append(String(labels))
        if !plot.xLabel.isEmpty {
            lines.append(String(repeating: " ", count: max(0, labelWidth + 2 + (columns - plot.xLabel.count) / 2)) + plot.xLabel)
        }
        if plot.series.count > 1 || !(plot.series.first?.name.isEmpty ?? true) {
            lines += legend(plot.series.enumerated().map { "\(markers[$0.offset % markers.count]) \($0.element.name)" })
        }
        return lines.map(trimmingTrailingSpaces).joined(separator: "\n") + "\n"
    }

    /// Legend entries on as few lines of `width` as they fit.
    static func legend(_ entries: [String]) -> [String] {
        var lines = [String](), current = ""
        for entry in entries {
            if !current.isEmpty && current.count + 3 + entry.count > width {
                lines.append(current)
                current = ""
            }
            current += (current.isEmpty ? "  " : "   ") + entry
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    static func trimmingTrailingSpaces(_ line: String) -> String {
        var line = line
        while line.last == " " { line.removeLast() }
        return line
    }
}

/// A grid of braille cells, addressed by dot (2 across, 4 down per cell), with an optional
/// symbol per cell that takes precedence over its dots.
struct BrailleCanvas {
    let columns: Int
    let rows: Int
    var bits: [UInt8]
    var marks: [Character?]

    init(columns: Int, rows: Int) {
        self.columns = columns
        self.rows = rows
        bits = Array(repeating: 0, count: columns * rows)
        marks = Array(repeating: nil, count: columns * rows)
    }

    var dotColumns: Int { columns * 2 }
    var dotRows: Int { rows * 4 }

    // Unicode braille numbers its dots 1-2-3-7 down the left column and 4-5-6-8 down the right.
    static let dotBit: [[UInt8]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]

    mutating func set(_ x: Int, _ y: Int) {
        guard (0..<dotColumns).contains(x), (0..<dotRows).contains(y) else { return }
        bits[(y / 4) * columns + x / 2] |= BrailleCanvas.dotBit[x % 2][y % 4]
    }

    /// Bresenham's line between two dots.
    mutating func line(from a: (Int, Int), to b: (Int, Int)) {
        var (x, y) = a
        let dx = abs(b.0 - x), dy = -abs(b.1 - y)
        let sx = x < b.0 ? 1 : -1, sy = y < b.1 ? 1 : -1
        var error = dx + dy
        while true {
            set(x, y)
            if x == b.0 && y == b.1 { return }
            let doubled = 2 * error
            if doubled >= dy { error += dy; x += sx }
            if doubled <= dx { error += dx; y += sy }
        }
    }

    mutating func mark(column: Int, row: Int, _ symbol: Character) {
        guard (0..<columns).contains(column), (0..<rows).contains(row) else { return }
        marks[row * columns + column] = symbol
    }

    func text(row: Int) -> String {
        String((0..<columns).map { column -> Character in
            let index = row * columns + column
            if let mark = marks[index] { return mark }
            let cell = bits[index]
            return cell == 0 ? " " : Unicode.Scalar(0x2800 + UInt32(cell)).map(Character.init) ?? " "
        })
    }
}
