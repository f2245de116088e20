import Foundation

// A line plot: named series of (x, y) points, optional log axes. The axes (range, ticks,
// mapping to [0, 1]) are computed once here and shared by the terminal and SVG renderers.
public struct PlotFigure {
    public struct Series {
        public var name: String
        public var xs: [Double]
        public var ys: [Double]
    }

    public var series: [Series]
    public var title: String?
    public var xLabel: String
    public var yLabel: String
    public var logx = false
    public var logy = false

    public struct Axis {
        var lo: Double  // in plotted space (log10 of the value on a log axis)
        var hi: Double
        var log: Bool
        var ticks: [Double]  // values, not transformed

        /// Where `value` falls on the axis, 0 at lo and 1 at hi.
        func fraction(_ value: Double) -> Double {
            let v = log ? log10(value) : value
            return hi > lo ? (v - lo) / (hi - lo) : 0.5
        }

        init(values: [Double], log: Bool) {
            self.log = log
            let lo = values.min() ?? 0, hi = values.max() ?? 1
            if log {
                var (a, b) = (log10(lo), log10(hi))
                if a == b { (a, b) = (a - 0.5, b + 0.5) }
                (self.lo, self.hi) = (a, b)
                ticks = Ticks.logarithmic(pow(10, a), pow(10, b))
            } else {
                let nice = Ticks.linear(lo, hi)
                (self.lo, self.hi, ticks) = (nice.lo, nice.hi, nice.ticks)
            }
        }
    }

    var xAxis: Axis { Axis(values: series.flatMap(\.xs), log: logx) }
    var yAxis: Axis { Axis(values: series.flatMap(\.ys), log: logy) }

    /// Points that can be drawn: finite, and positive on a log axis. The builtin rejects the rest
    /// with a message, so this only guards the renderers.
    func drawable(_ s: Series) -> [(Double, Double)] {
        zip(s.xs, s.ys).filter { x, y in
            x.isFinite && y.isFinite && (!logx || x > 0) && (!logy || y > 0)
        }
    }
}
