import Foundation

// Axis ticks at "nice" values (1, 2 or 5 times a power of ten; decades on log axes) and their
// short labels (16k, 1M, 0.25), shared by the terminal and SVG renderings.
enum Ticks {
    /// Linear ticks covering [lo, hi] with about `count` steps; the range is widened to whole steps.
    static func linear(_ lo: Double, _ hi: Double, count: Int = 5) -> (lo: Double, hi: Double, ticks: [Double]) {
        var (lo, hi) = (lo, hi)
        if lo == hi {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (lo - pad, hi + pad)
        }
        let step = niceStep((hi - lo) / Double(max(1, count)))
        let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
        let ticks = stride(from: first, through: last + 0.5, by: 1).map { $0 * step }.filter { $0 <= last * step + step * 1e-9 }
        return (first * step, last * step, ticks)
    }

    static func niceStep(_ rough: Double) -> Double {
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        for factor in [1.0, 2, 5] where factor * magnitude >= rough * 0.999 { return factor * magnitude }
        return 10 * magnitude
    }

    /// Ticks of a log axis over [lo, hi] (positive): decades, or 1-2-5 steps when the range spans
    /// less than two decades, or linear ticks when even those give fewer than two.
    static func logarithmic(_ lo: Double, _ hi: Double) -> [Double] {
        let first = Int(log10(lo).rounded(.down)), last = Int(log10(hi).rounded(.up))
        let inRange = { (v: Double) in v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) }
        let decades = (first...last).map { pow(10, Double($0)) }.filter(inRange)
        // At most about 8 labels: every 2nd, 3rd... decade over wide ranges.
        let every = max(1, (decades.count + 7) / 8)
        if decades.count >= 2 { return decades.enumerated().filter { $0.offset % every == 0 }.map(\.element) }
        let steps = (first...last).flatMap { e in [1.0, 2, 5].map { $0 * pow(10, Double(e)) } }.filter(inRange)
        if steps.count >= 2 { return steps }
        return linear(lo, hi, count: 3).ticks.filter { $0 > 0 && inRange($0) }
    }

    /// A short label: 3 significant digits, with k/M/G for thousands and up.
    static func label(_ value: Double) -> String {
        if value == 0 { return "0" }
        let magnitude = abs(value)
        for (limit, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] where magnitude >= limit && magnitude < 1e15 {
            return significant(value / limit) + suffix
        }
        return significant(value)
    }

    static func significant(_ value: Double) -> String {
        var text = String(format: "%.3g", value)
        if text.contains("e") {
            // 1e-05 reads better as 1e-5.
            text = text.replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e+", with: "e")
        }
        return text
    }
}
