import AttnKernels
import Foundation

// Stable text for values: the same value prints the same way on every machine.
// Floats: up to 6 significant digits (%g), always with a `.` or exponent so they read as floats.
// Tensor elements: 4 significant digits, right-aligned in columns, NumPy-style summarised
// (first and last 3 along each axis) past 1000 elements.
public enum Format {
    public static func float(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        var text = String(format: "%.6g", x)
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return text
    }

    public static func element(_ x: Float) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        if x == 0 { return "0" }
        return String(format: "%.4g", Double(x))
    }

    /// How a value shows as a result (strings quoted), as the REPL's Out[n] and a script's display.
    public static func display(_ value: Value) -> String {
        switch value {
        case let .string(s): return quote(s)
        case let .tensor(t, stats): return tensor(t, stats: stats)
        case let .tracked(t): return tensor(t.value, stats: nil) + " (tracked for grad)"
        default: return inline(value)
        }
    }

    /// How `print` shows a value (strings bare).
    public static func plain(_ value: Value) -> String {
        if case let .string(s) = value { return s }
        return display(value)
    }

    /// One-line form, used inside lists and records.
    public static func inline(_ value: Value) -> String {
        switch value {
        case .none: return "none"
        case let .bool(b): return b ? "true" : "false"
        case let .int(i): return String(i)
        case let .float(f): return float(f)
        case let .string(s): return quote(s)
        case let .list(items): return "[" + items.map(inline).joined(separator: ", ") + "]"
        case let .record(r): return record(r)
        case let .tensor(t, stats): return tensorHeader(t, stats: stats)
        case let .tracked(t): return tensorHeader(t.value, stats: nil) + " (tracked)"
        case let .tree(t): return tree(t)
        case let .model(m): return model(m)
        case let .task(t): return "Task{\(t.summary)}"
        case let .function(closure): return "<fn \(closure.signature)>"
        case let .builtin(b): return "<builtin \(b.signature)>"
        }
    }

    /// A tree's summary; the build time is left out (it varies) and readable as `t.ms`.
    public static func tree(_ t: TensorTree) -> String {
        "Tree{n: \(t.count), d: \(t.dim), branch: \(t.branch), depth: \(t.depth), leaf: \(t.leafSize), leaves: \(t.leafCount), nodes: \(t.nodeCount), agg: \(t.aggregation.rawValue)}"
    }

    /// A model's configuration and parameter count (grouped by thousands).
    public static func model(_ m: Model) -> String {
        "Model{\(m.architecture.summary), params: \(grouped(m.parameters.count))}"
    }

    public static func grouped(_ n: Int) -> String {
        var digits = String(n), out = ""
        while digits.count > 3 {
            out = "," + digits.suffix(3) + out
            digits.removeLast(3)
        }
        return digits + out
    }

    public static func record(_ r: Record) -> String {
        "{" + r.fields.map { "\($0.0): \(inline($0.1))" }.joined(separator: ", ") + "}"
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    /// Statistics shown in a tensor's header: the scalar ones except `ms`, which varies from run
    /// to run. Lists (such as tca's per-query `leaves`) are read as members instead.
    static func statsSummary(_ stats: Record) -> String {
        let shown = stats.fields.filter { field in
            if case .list = field.1 { return false }
            return field.0 != "ms"
        }
        return shown.map { "\($0.0): \(inline($0.1))" }.joined(separator: ", ")
    }

    public static func tensorHeader(_ t: Tensor, stats: Record?) -> String {
        var header = "Tensor[" + t.shape.map(String.init).joined(separator: ", ") + "] f32"
        if let stats, !statsSummary(stats).isEmpty { header += " {" + statsSummary(stats) + "}" }
        return header
    }

    static let summaryThreshold = 1000
    static let edgeItems = 3
    static let maxLineWidth = 100

    public static func tensor(_ t: Tensor, stats: Record? = nil) -> String {
        let header = tensorHeader(t, stats: stats)
        if t.count == 0 { return header + "\n[]" }
        let summarise = t.count > summaryThreshold
        func shown(_ size: Int, _ cut: Bool) -> [Int] {
            cut && size > 2 * edgeItems ? Array(0..<edgeItems) + [-1] + Array((size - edgeItems)..<size) : Array(0..<size)
        }
        // Which indices are shown along each axis (-1 marks the "..." gap).
        var shownIndices: [[Int]] = t.shape.map { shown($0, summarise) }
        var width = 1
        let strides = t.strides
        func measure() {
            width = 1
            func visit(_ axis: Int, _ offset: Int) {
                for i in shownIndices[axis] where i >= 0 {
                    let o = offset + i * strides[axis]
                    if axis == t.rank - 1 { width = max(width, element(t.data[o]).count) } else { visit(axis + 1, o) }
                }
            }
            visit(0, 0)
        }
        measure()
        // Rows wider than the terminal are cut in the middle too (NumPy would wrap them).
        let last = t.rank - 1
        if shownIndices[last].count * (width + 2) + t.rank > maxLineWidth {
            shownIndices[last] = shown(t.shape[last], true)
            measure()
        }
        func render(_ axis: Int, _ offset: Int, _ indent: String) -> String {
            var parts = [String]()
            for i in shownIndices[axis] {
                if i < 0 { parts.append("..."); continue }
                let o = offset + i * strides[axis]
                if axis == t.rank - 1 {
                    let text = element(t.data[o])
                    parts.append(String(repeating: " ", count: width - text.count) + text)
                } else {
                    parts.append(render(axis + 1, o, indent + " "))
                }
            }
            if axis == t.rank - 1 { return "[" + parts.joined(separator: ", ") + "]" }
            let separator = ",\n" + String(repeating: "\n", count: t.rank - axis - 2) + indent + " "
            return "[" + parts.joined(separator: separator) + "]"
        }
        return header + "\n" + render(0, 0, "")
    }
}
