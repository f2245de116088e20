// Output that is more than text: each kind knows its terminal form; the report writer renders
// the same data as HTML or Markdown tables and inline SVG.
public enum Figure {
    case table(TableFigure)
    case plot(PlotFigure)
    case heatmap(HeatmapFigure)

    public var terminalText: String {
        switch self {
        case let .table(t): return t.terminalText
        case let .plot(p): return TerminalPlot.render(p)
        case let .heatmap(h): return h.terminalText
        }
    }
}
