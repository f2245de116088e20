import AttnKernels

// Plots and heatmaps. `plot(rows, x="n", y=["cross_ms", "tca_ms"])` draws columns of records
// (the rows a `table` shows), `plot(xs, ys)` two sequences, `plot(ys)` one against its index.
enum PlotBuiltins {
    /// A list of numbers or a 1-D tensor, as Doubles.
    static func numbers(_ value: Value, _ what: String) throws -> [Double] {
        switch value {
        case let .tensor(t, _):
            guard t.rank == 1 else { throw BuiltinError(message: "\(what) must be a 1-D tensor or a list of numbers, got a tensor of shape \(formatShape(t.shape))") }
            return t.data.map(Double.init)
        case let .list(items):
            return try items.map {
                guard let n = $0.number else { throw BuiltinError(message: "\(what) must hold numbers only, found \($0.typeName)") }
                return n
            }
        default:
            throw BuiltinError(message: "\(what) must be a list of numbers or a 1-D tensor, got \(value.typeName)")
        }
    }

    static func isRecordRows(_ value: Value) -> Bool {
        guard case let .list(items) = value, let first = items.first, case .record = first else { return false }
        return true
    }

    /// Series from records: one per y column, over the rows where both x and y are numbers (a
    /// column missing at some sizes, as exact attention past its limit, just ends early).
    static func seriesFromRows(_ rows: [Value], x: String?, y: Value) throws -> (xName: String, series: [PlotFigure.Series]) {
        var records = [Record]()
        for row in rows {
            guard case let .record(r) = row else { throw BuiltinError(message: "plot rows must all be records, found \(row.typeName)") }
            records.append(r)
        }
        var keys = [String]()
        for r in records { for key in r.keys where !keys.contains(key) { keys.append(key) } }
        guard let xName = x ?? keys.first else { throw BuiltinError(message: "plot rows have no fields") }
        guard keys.contains(xName) else {
            throw BuiltinError(message: "plot rows have no field `\(xName)`", notes: ["note: fields: " + keys.joined(separator: ", ")])
        }
        var yNames: [String]
        switch y {
        case let .string(name): yNames = [name]
        case let .list(names):
            yNames = try names.map {
                guard case let .string(s) = $0 else { throw BuiltinError(message: "`y` must be a column name or a list of names") }
                return s
            }
        case .none: yNames = keys.filter { key in key != xName && records.contains { $0[key]?.number != nil } }
        default: throw BuiltinError(message: "`y` must be a column name or a list of names, got \(y.typeName)")
        }
        for name in yNames where !keys.contains(name) {
            throw BuiltinError(message: "plot rows have no field `\(name)`", notes: ["note: fields: " + keys.joined(separator: ", ")])
        }
        guard !yNames.isEmpty else { throw BuiltinError(message: "plot found no numeric columns besides `\(xName)`; name them with y=") }
        let series = yNames.map { name in
            var s = PlotFigure.Series(name: name, xs: [], ys: [])
            for r in records {
                if let xv = r[xName]?.number, let yv = r[name]?.number { s.xs.append(xv); s.ys.append(yv) }
            }
            return s
        }
        return (xName, series)
    }

    static func checkDrawable(_ plot: PlotFigure) throws {
        guard plot.series.contains(where: { !$0.xs.isEmpty }) else { throw BuiltinError(message: "plot has no points to draw") }
        for s in plot.series {
            let label = s.name.isEmpty ? "" : " in `\(s.name)`"
            if let bad = zip(s.xs, s.ys).first(where: { !$0.0.isFinite || !$0.1.isFinite }) {
                throw BuiltinError(message: "plot cannot draw the non-finite point (\(Format.float(bad.0)), \(Format.float(bad.1)))\(label)")
            }
            if plot.logx, let bad = s.xs.first(where: { $0 <= 0 }) {
                throw BuiltinError(message: "logx needs positive x values, found \(Format.float(bad))\(label)")
            }
            if plot.logy, let bad = s.ys.first(where: { $0 <= 0 }) {
                throw BuiltinError(message: "logy needs positive y values, found \(Format.float(bad))\(label)")
            }
        }
    }

    static let all: [Builtin] = [
        Builtin("plot",
                [.required("data", .tensorOrList), .optional("ys", .optional(.tensorOrList)), .optional("x", .optional(.string)),
                 .optional("y", .any), .optional("logx", .bool, .bool(false)), .optional("logy", .bool, .bool(false)),
                 .optional("title", .optional(.string))],
                summary: "Line plot of record columns (plot(rows, x=\"n\", y=[\"a\", \"b\"])), of xs against ys, or of ys against their index.",
                doc: """
                With records, x names the x column (default: the first field) and y one column or a list \
                (default: every other numeric column); rows where a column is missing are skipped. \
                logx/logy use log scales (values must be positive). In a terminal the plot is 80 \
                columns of braille with a marker per series; in a report it is an SVG. `:plot` in \
                the REPL shows the last plot again, or writes it: `:plot out.svg`.
                """) { args, interp in
            var plot = PlotFigure(series: [], title: try args.optionalString("title"), xLabel: "", yLabel: "",
                                  logx: try args.bool("logx"), logy: try args.bool("logy"))
            let data = args["data"]
            if isRecordRows(data), case let .list(rows) = data {
                if case .none = args["ys"] {} else { throw BuiltinError(message: "plot of records takes x= and y= column names, not a second sequence") }
                let (xName, series) = try seriesFromRows(rows, x: try args.optionalString("x"), y: args["y"])
                plot.series = series
                plot.xLabel = xName
                plot.yLabel = series.count == 1 ? series[0].name : ""
            } else {
                let first = try numbers(data, "plot's data")
                var xs = first.indices.map(Double.init), ys = first
                if case .none = args["ys"] {} else {
                    xs = first
                    ys = try numbers(args["ys"], "plot's ys")
                    guard xs.count == ys.count else { throw BuiltinError(message: "plot needs xs and ys of the same length, got \(xs.count) and \(ys.count)") }
                }
                let name: String
                switch args["y"] {
                case let .string(s): name = s
                case .none: name = ""
                default: throw BuiltinError(message: "`y` names the series when plotting sequences; got \(args["y"].typeName)")
                }
                plot.series = [PlotFigure.Series(name: name, xs: xs, ys: ys)]
                plot.xLabel = try args.optionalString("x") ?? ""
                plot.yLabel = name
            }
            try checkDrawable(plot)
            interp.emit(.plot(plot))
            return .none
        },
        Builtin("heatmap", [.required("t", .tensor), .optional("title", .optional(.string))],
                summary: "Show a 2-D tensor as a heatmap (e.g. heatmap(weights(q, k))); large ones as block means.") { args, interp in
            let t = try args.tensor("t")
            guard t.rank == 2, t.shape[0] > 0, t.shape[1] > 0 else {
                throw BuiltinError(message: "heatmap needs a non-empty 2-D tensor, got shape \(formatShape(t.shape))")
            }
            interp.emit(.heatmap(HeatmapFigure(title: try args.optionalString("title"), rows: t.shape[0], columns: t.shape[1], values: t.data.map(Double.init))))
            return .none
        },
    ]
}
