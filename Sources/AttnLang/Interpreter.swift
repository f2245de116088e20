import AttnKernels
import Foundation

// Tree-walking evaluator. Scoping is lexical: a function call gets a new scope whose parent is
// the scope the function was defined in; assignment writes to the current function's scope (or
// the top level); blocks do not open scopes. Every error becomes a Diagnostic pointing at the
// expression that failed. Limits (call depth, memory) turn into errors, never crashes.
public final class Interpreter {
    public static let maxCallDepth = 400

    public let globals = Environment(parent: nil)
    public var output: OutputSink
    /// Relative paths in `load`/`save` resolve against this (a script's folder, or the REPL's cwd).
    public var baseDirectory: String
    var rng = Xoshiro256(seed: 0)
    var file: SourceFile
    var callDepth = 0

    enum ControlSignal: Error {
        case returned(Value)
        case breakLoop
        case continueLoop
    }

    public init(output: OutputSink, baseDirectory: String = FileManager.default.currentDirectoryPath) {
        self.output = output
        self.baseDirectory = baseDirectory
        self.file = SourceFile(name: "<none>", text: "")
    }

    // MARK: entry points

    public func print(_ text: String) { output.write(text, isError: false) }
    /// The last plot or heatmap shown (the REPL's `:plot` shows it again).
    public private(set) var lastFigure: Figure?

    /// Shows a table, plot or heatmap: as text on a terminal, as HTML/SVG in a report.
    public func emit(_ figure: Figure) {
        if case .table = figure {} else { lastFigure = figure }
        output.emit(figure)
    }
    public func printError(_ text: String) { output.write(text, isError: true) }

    /// Parses and runs a whole source; displays each top-level expression's value that is not
    /// none (as a notebook shows a cell's result). Returns false after reporting the first error.
    @discardableResult
    public func run(_ source: SourceFile, echo: Bool = false) -> Bool {
        let (statements, diagnostics) = Parser.parse(source)
        if !diagnostics.isEmpty {
            for d in diagnostics { printError(d.render()) }
            return false
        }
        do {
            try execute(statements, in: source) { statement, value in
                if echo { self.print(self.echoText(statement, source)) }
                if let value { self.display(value) }
            }
            return true
        } catch {
            printError(error.render())
            return false
        }
    }

    /// A top-level expression's value, shown as a notebook shows a cell's result (none is silent).
    func display(_ value: Value) {
        if !value.isNone { print(Format.display(value) + "\n") }
    }

    func echoText(_ statement: Stmt, _ source: SourceFile) -> String {
        source.slice(statement.span).split(separator: "\n", omittingEmptySubsequences: false).map { "> " + $0 }.joined(separator: "\n") + "\n"
    }

    /// Runs statements at the top level; `after` sees each statement with its value when it is
    /// an expression statement.
    public func execute(_ statements: [Stmt], in source: SourceFile, after: (Stmt, Value?) -> Void) throws(Diagnostic) {
        file = source
        callDepth = 0
        for statement in statements {
            do {
                let value = try executeTopLevel(statement)
                after(statement, value)
            } catch let d as Diagnostic {
                throw d
            } catch {
                throw Diagnostic("internal error: \(error)", span: statement.span, file: source)
            }
        }
    }

    func executeTopLevel(_ statement: Stmt) throws -> Value? {
        if case let .expression(expr) = statement.kind { return try evaluate(expr, globals) }
        try execute(statement, globals)
        return nil
    }

    public func define(_ name: String, _ value: Value) { globals.variables[name] = value }
    /// A variable (not a builtin) visible at the top level.
    public func lookupVariable(_ name: String) -> Value? { globals.lookup(name) }

    static let maxIncludeDepth = 16
    var includeDepth = 0

    /// Runs another script in the global scope; its errors become this call's error (with the
    /// included file's own location as a note).
    func include(path: String, displayName: String) throws {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw BuiltinError(message: "cannot read `\(displayName)`: no such file or not UTF-8 text")
        }
        guard includeDepth < Interpreter.maxIncludeDepth else {
            throw BuiltinError(message: "includes nested more than \(Interpreter.maxIncludeDepth) deep (does a script include itself?)")
        }
        let source = SourceFile(name: displayName, text: text)
        let (statements, diagnostics) = Parser.parse(source)
        if let first = diagnostics.first {
            throw BuiltinError(message: "`\(displayName)` has syntax errors", notes: [first.render().trimmingCharacters(in: .newlines)])
        }
        let callerFile = file, callerBase = baseDirectory
        includeDepth += 1
        file = source
        baseDirectory = (path as NSString).deletingLastPathComponent
        defer {
            includeDepth -= 1
            file = callerFile
            baseDirectory = callerBase
        }
        for statement in statements {
            if let value = try executeTopLevel(statement) { display(value) }
        }
    }
    public func lookup(_ name: String) -> Value? { globals.lookup(name) ?? Registry.builtins[name].map(Value.builtin) }
    public var variableNames: [String] { globals.visibleNames.sorted() }
    public func reset() {
        globals.variables.removeAll()
        rng = Xoshiro256(seed: 0)
    }

    // MARK: errors

    func error(_ message: String, _ span: Span, notes: [String] = []) -> Diagnostic {
        Diagnostic(message, span: span, file: file, notes: notes)
    }

    /// Converts errors from operators, builtins and kernels into diagnostics at `span`.
    func located<T>(_ span: Span, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as OperatorError {
            throw error(e.message, span, notes: e.notes)
        } catch let e as BuiltinError {
            throw error(e.message, span, notes: e.notes)
        } catch let e as KernelError {
            throw error(e.description, span, notes: kernelNotes(e))
        }
    }

    func kernelNotes(_ e: KernelError) -> [String] {
        switch e {
        case .cancelled: return ["note: the computation was cancelled; variables keep their values"]
        case .memoryLimit: return ["help: use smaller sizes, or raise the limit with ATTN_MEM_LIMIT=16G"]
        default: return []
        }
    }

    func checkInterrupt(_ span: Span) throws {
        if Cancellation.isRequested { throw error("interrupted", span, notes: ["note: variables keep the values they had"]) }
    }

    // MARK: statements

    func execute(_ statement: Stmt, _ env: Environment) throws {
        switch statement.kind {
        case let .expression(expr):
            _ = try evaluate(expr, env)
        case let .assign(target, compound, valueExpr):
            var value = try evaluate(valueExpr, env)
            if let op = compound {
                let current = try evaluate(target, env)
                value = try located(statement.span) { try Operators.binary(op, current, value) }
            }
            try assign(target, value, env)
        case let .function(decl):
            env.variables[decl.name ?? "fn"] = .function(Closure(decl: decl, environment: env, file: file))
        case let .ifElse(conditionExpr, thenBody, otherwise):
            if try condition(conditionExpr, env, "if") {
                try executeBlock(thenBody, env)
            } else if let otherwise {
                try executeBlock(otherwise, env)
            }
        case let .forIn(variable, iterableExpr, body):
            let items = try iterate(try evaluate(iterableExpr, env), iterableExpr.span)
            let bar = progressLabel(iterableExpr, env).flatMap { ProgressDisplay.shared.beginBar(label: $0, total: items.count) }
            defer { ProgressDisplay.shared.endBar(bar) }
            for (number, item) in items.enumerated() {
                ProgressDisplay.shared.advance(bar, done: number)
                try checkInterrupt(statement.span)
                env.variables[variable] = item
                do {
                    try executeBlock(body, env)
                } catch ControlSignal.breakLoop {
                    break
                } catch ControlSignal.continueLoop {
                    continue
                }
            }
        case let .whileLoop(conditionExpr, body):
            while try condition(conditionExpr, env, "while") {
                try checkInterrupt(statement.span)
                do {
                    try executeBlock(body, env)
                } catch ControlSignal.breakLoop {
                    break
                } catch ControlSignal.continueLoop {
                    continue
                }
            }
        case let .returnValue(expr):
            throw ControlSignal.returned(try expr.map { try evaluate($0, env) } ?? .none)
        case .breakLoop:
            throw ControlSignal.breakLoop
        case .continueLoop:
            throw ControlSignal.continueLoop
        }
    }

    /// The label the last `progress(...)` call was given (it sets this as it returns its list).
    var progressLabelGiven = ""

    /// The bar's label when a `for` iterates over a call of the builtin `progress`; nil otherwise.
    func progressLabel(_ iterable: Expr, _ env: Environment) -> String? {
        guard case let .call(callee, _) = iterable.kind, case let .name(name) = callee.kind,
              case let .builtin(builtin)? = env.lookup(name) ?? Registry.builtins[name].map(Value.builtin),
              builtin.name == "progress" else { return nil }
        return progressLabelGiven
    }

    func executeBlock(_ body: [Stmt], _ env: Environment) throws {
        for statement in body { try execute(statement, env) }
    }

    func condition(_ expr: Expr, _ env: Environment, _ keyword: String) throws -> Bool {
        let value = try evaluate(expr, env)
        guard case let .bool(b) = value else {
            var notes = ["help: compare explicitly, e.g. `n > 0` or `x != none`"]
            if case .tensor = value { notes = ["help: reduce the tensor first, e.g. `max(x) > 0`"] }
            throw error("`\(keyword)` needs a bool condition, got \(value.typeName)", expr.span, notes: notes)
        }
        return b
    }

    func iterate(_ value: Value, _ span: Span) throws -> [Value] {
        switch value {
        case let .list(items): return items
        case let .string(s): return s.map { .string(String($0)) }
        case let .record(r): return r.keys.map { .string($0) }
        case let .tensor(t, _):
            return try (0..<t.shape[0]).map { i in
                switch try t.indexed([.index(i)]) {
                case let .scalar(x): return .float(Double(x))
                case let .tensor(row): return .tensor(row)
                }
            }
        default:
            throw error("cannot loop over a \(value.typeName)", span, notes: ["help: loop over a list, e.g. `for i in range(10) { ... }`"])
        }
    }

    // MARK: assignment

    /// `x = v` binds x in the current scope (a function's assignment makes a local).
    /// `x.f = v` and `x[i] = v` update x where it lives, so a function can update a record or
    /// list defined outside it, as mutation does in Python.
    func assign(_ target: Expr, _ value: Value, _ env: Environment, updating: Bool = false) throws {
        switch target.kind {
        case let .name(name):
            var scope: Environment? = env
            if updating {
                while let current = scope, current.variables[name] == nil { scope = current.parent }
            }
            (scope ?? env).variables[name] = value
        case let .member(baseExpr, name, _):
            guard case var .record(record) = try evaluate(baseExpr, env) else {
                throw error("only record fields can be assigned", target.span, notes: ["help: build a record with `{\(name): ...}`"])
            }
            record[name] = value
            try assign(baseExpr, .record(record), env, updating: true)
        case let .index(baseExpr, items):
            let container = try evaluate(baseExpr, env)
            let updated = try setIndex(container, items, value, env, target.span)
            try assign(baseExpr, updated, env, updating: true)
        default:
            throw error("cannot assign to this expression", target.span)
        }
    }


    func setIndex(_ container: Value, _ items: [IndexItem], _ value: Value, _ env: Environment, _ span: Span) throws -> Value {
        // Records take a string key; lists and tensors take integer selectors.
        if case var .record(record) = container {
            guard items.count == 1, case let .single(keyExpr) = items[0], case let .string(key) = try evaluate(keyExpr, env) else {
                throw error("a record field is assigned with a string key", span)
            }
            record[key] = value
            return .record(record)
        }
        let selectors = try items.map { try selector($0, env) }
        switch container {
        case var .list(list):
            guard selectors.count == 1, case let .index(i) = selectors[0] else {
                throw error("a list element is assigned with one integer index", span)
            }
            let position = try listPosition(i, list.count, span)
            list[position] = value
            return .list(list)
        case .tensor(var tensor, _):
            guard selectors.count == tensor.rank, let x = value.number else {
                throw error("a tensor element is assigned with one integer index per axis and a number", span,
                            notes: ["help: to change whole rows, build a new tensor with `concat`"])
            }
            var offset = 0
            for (axis, s) in selectors.enumerated() {
                guard case let .index(i) = s else { throw error("slices cannot be assigned to; index single elements", span) }
                let resolved = i < 0 ? i + tensor.shape[axis] : i
                guard resolved >= 0 && resolved < tensor.shape[axis] else {
                    throw error("index \(i) is out of range for axis \(axis) of size \(tensor.shape[axis])", span)
                }
                offset += resolved * tensor.strides[axis]
            }
            tensor.data[offset] = Float(x)
            return .tensor(tensor)
        default:
            throw error("cannot assign into a \(container.typeName)", span)
        }
    }

    func listPosition(_ i: Int, _ count: Int, _ span: Span) throws -> Int {
        let position = i < 0 ? i + count : i
        guard position >= 0 && position < count else {
            throw error("index \(i) is out of range for a list of length \(count)", span)
        }
        return position
    }

    // MARK: expressions

    func evaluate(_ expr: Expr, _ env: Environment) throws -> Value {
        switch expr.kind {
        case let .int(i): return .int(i)
        case let .float(f): return .float(f)
        case let .string(s): return .string(s)
        case let .bool(b): return .bool(b)
        case .none: return .none
        case let .name(name): return try lookupName(name, expr.span, env)
        case let .list(elements): return .list(try elements.map { try evaluate($0, env) })
        case let .record(fields):
            var record = Record()
            for (key, valueExpr) in fields { record[key] = try evaluate(valueExpr, env) }
            return .record(record)
        case let .unary(op, operand):
            let value = try evaluate(operand, env)
            return try located(expr.span) { try Operators.unary(op, value) }
        case let .binary(op, lhs, rhs):
            let a = try evaluate(lhs, env)
            let b = try evaluate(rhs, env)
            return try located(expr.span) { try Operators.binary(op, a, b) }
        case let .logical(op, lhs, rhs):
            let left = try logicalOperand(lhs, env, op)
            if op == .and && !left { return .bool(false) }
            if op == .or && left { return .bool(true) }
            return .bool(try logicalOperand(rhs, env, op))
        case let .call(calleeExpr, arguments):
            let callee = try evaluate(calleeExpr, env)
            var positional = [Value](), keywords = [(name: String, value: Value)]()
            for argument in arguments {
                let value = try evaluate(argument.value, env)
                if let label = argument.label { keywords.append((label, value)) } else { positional.append(value) }
            }
            return try call(callee, positional: positional, keywords: keywords, span: expr.span, calleeSpan: calleeExpr.span, arguments: arguments)
        case let .index(baseExpr, items):
            let base = try evaluate(baseExpr, env)
            return try index(base, items, env, expr.span)
        case let .member(baseExpr, name, nameSpan):
            return try member(try evaluate(baseExpr, env), name, nameSpan)
        case let .function(decl):
            return .function(Closure(decl: decl, environment: env, file: file))
        }
    }

    func logicalOperand(_ expr: Expr, _ env: Environment, _ op: LogicalOperator) throws -> Bool {
        let value = try evaluate(expr, env)
        guard case let .bool(b) = value else {
            throw error("`\(op.rawValue)` needs bool operands, got \(value.typeName)", expr.span)
        }
        return b
    }

    func lookupName(_ name: String, _ span: Span, _ env: Environment) throws -> Value {
        if let value = env.lookup(name) { return value }
        if let builtin = Registry.builtins[name] { return .builtin(builtin) }
        var notes = [String]()
        if let close = closestName(to: name, in: env.visibleNames + Registry.names) {
            notes.append("help: did you mean `\(close)`?")
        } else {
            notes.append("help: `help()` lists the builtins; `:vars` lists your variables in the REPL")
        }
        throw error("unknown name `\(name)`", span, notes: notes)
    }

    // MARK: calls

    /// Calls a function value with already-evaluated arguments (also used by builtins such as
    /// `time`, `bench`, and size rules like `depth=log`).
    public func call(_ callee: Value, _ positional: [Value], keywords: [(name: String, value: Value)] = [], span: Span? = nil) throws -> Value {
        // A builtin calling back into the script (grad, time, size rules) is located at its own call.
        let site = span ?? builtinCallSpan ?? Span(0, 0)
        return try call(callee, positional: positional, keywords: keywords, span: site, calleeSpan: site, arguments: [])
    }

    /// The span of the builtin call running now, for functions it calls back.
    var builtinCallSpan: Span?

    func call(_ callee: Value, positional: [Value], keywords: [(name: String, value: Value)], span: Span, calleeSpan: Span, arguments: [CallArgument]) throws -> Value {
        try checkInterrupt(span)
        switch callee {
        case let .builtin(builtin):
            var positional = positional, keywords = keywords
            var tracked = Differentiable.tracked(in: positional + keywords.map(\.value))
            if tracked != nil && Differentiable.passive.contains(builtin.name) {
                // It only looks at the tensor: give it the value.
                positional = positional.map(Differentiable.untracked)
                keywords = keywords.map { ($0.name, Differentiable.untracked($0.value)) }
                tracked = nil
            }
            let bound: Arguments
            do {
                bound = try Registry.bind(builtin, positional: positional, keywords: keywords)
            } catch let e as BuiltinError {
                // Point at the offending keyword when there is one.
                let labelSpan = arguments.first { a in a.label.map { e.message.contains("`\($0)`") } ?? false }?.labelSpan
                throw error(e.message, labelSpan ?? span, notes: e.notes)
            }
            callDepth += 1
            defer { callDepth -= 1 }
            let shown = ProgressDisplay.shared.beginCall(builtin.name)
            defer { ProgressDisplay.shared.endCall(shown) }
            let outerCallSpan = builtinCallSpan
            builtinCallSpan = span
            defer { builtinCallSpan = outerCallSpan }
            if let tracked {
                return try located(span) { try Differentiable.call(builtin, bound, tracked, self) }
            }
            return try located(span) { try builtin.implementation(bound, self) }
        case let .function(closure):
            return try callClosure(closure, positional: positional, keywords: keywords, span: span)
        case let .model(model):
            return try applyModel(model, positional, keywords, span)
        default:
            throw error("a \(callee.typeName) is not a function", calleeSpan,
                        notes: case_tensorHint(callee))
        }
    }

    /// `m(x)`: a module applied to a tensor (inference; `fit` does the training).
    func applyModel(_ model: Model, _ positional: [Value], _ keywords: [(name: String, value: Value)], _ span: Span) throws -> Value {
        let usage = "note: \(model.architecture.kind) modules are called with one tensor, m(x)"
        switch (positional.first, positional.count, keywords.isEmpty) {
        case (.tensor(let t, _)?, 1, true):
            return try located(span) { .tensor(try model.apply(t)) }
        case (.tracked?, 1, true):
            throw error("a model cannot be differentiated inside `grad`", span, notes: ["help: train models with fit(model, task, ...)"])
        default:
            throw error("a model takes one tensor argument", span, notes: [usage])
        }
    }

    func case_tensorHint(_ value: Value) -> [String] {
        if case .tensor = value { return ["help: to index a tensor use brackets, `x[i]`; to multiply, `x * (...)`"] }
        return []
    }

    func callClosure(_ closure: Closure, positional: [Value], keywords: [(name: String, value: Value)], span: Span) throws -> Value {
        let decl = closure.decl
        let callerFile = file
        guard callDepth < Interpreter.maxCallDepth else {
            throw error("recursion too deep (more than \(Interpreter.maxCallDepth) nested calls)", span,
                        notes: ["help: check the base case of `\(decl.name ?? "fn")`"])
        }
        let signature = "note: \(closure.signature)"
        guard positional.count <= decl.parameters.count else {
            throw error("`\(decl.name ?? "fn")` takes \(decl.parameters.count) argument\(decl.parameters.count == 1 ? "" : "s"), got \(positional.count)", span, notes: [signature])
        }
        let scope = Environment(parent: closure.environment)
        for (parameter, value) in zip(decl.parameters, positional) { scope.variables[parameter.name] = value }
        for (name, value) in keywords {
            guard decl.parameters.contains(where: { $0.name == name }) else {
                var notes = [String]()
                if let close = closestName(to: name, in: decl.parameters.map(\.name)) { notes.append("help: did you mean `\(close)`?") }
                notes.append(signature)
                throw error("`\(decl.name ?? "fn")` has no parameter `\(name)`", span, notes: notes)
            }
            if scope.variables[name] != nil { throw error("`\(decl.name ?? "fn")` got two values for `\(name)`", span, notes: [signature]) }
            scope.variables[name] = value
        }
        callDepth += 1
        file = closure.file
        defer {
            callDepth -= 1
            file = callerFile
        }
        do {
            for parameter in decl.parameters where scope.variables[parameter.name] == nil {
                guard let defaultExpr = parameter.defaultValue else {
                    file = callerFile
                    throw error("`\(decl.name ?? "fn")` is missing its argument `\(parameter.name)`", span, notes: [signature])
                }
                scope.variables[parameter.name] = try evaluate(defaultExpr, scope)
            }
            try executeBlock(decl.body, scope)
            return .none
        } catch let ControlSignal.returned(value) {
            return value
        } catch var d as Diagnostic {
            // Say where the failing function was called from (a short trace).
            // Say where the failing function was called from: a short trace, repeats shown once.
            let (line, column) = callerFile.location(of: span.start)
            let note = "note: called from \(callerFile.name):\(line):\(column) (`\(decl.name ?? "fn")`)"
            if d.notes.last != note && d.notes.filter({ $0.hasPrefix("note: called from") }).count < 8 {
                d.notes.append(note)
            }
            throw d
        }
    }

    // MARK: indexing and members

    func selector(_ item: IndexItem, _ env: Environment) throws -> AxisSelector {
        func integer(_ expr: Expr?) throws -> Int? {
            guard let expr else { return nil }
            let value = try evaluate(expr, env)
            switch value {
            case .none: return nil
            case let .int(i): return i
            case let .float(f) where f.rounded() == f && Swift.abs(f) < 9e15: return Int(f)
            default: throw error("indices must be integers, got \(value.typeName)", expr.span)
            }
        }
        switch item {
        case let .single(expr):
            guard let i = try integer(expr) else { throw error("an index cannot be none", expr.span) }
            return .index(i)
        case let .slice(start, stop, step, _):
            return .range(start: try integer(start), stop: try integer(stop), step: try integer(step))
        }
    }

    func index(_ base: Value, _ items: [IndexItem], _ env: Environment, _ span: Span) throws -> Value {
        switch base {
        case let .record(record):
            guard items.count == 1, case let .single(keyExpr) = items[0], case let .string(key) = try evaluate(keyExpr, env) else {
                throw error("a record is indexed by one string key", span)
            }
            guard let value = record[key] else { throw missingField(key, record.keys, span) }
            return value
        case .tensor(let t, _):
            let selectors = try items.map { try selector($0, env) }
            return try located(span) {
                switch try t.indexed(selectors) {
                case let .scalar(x): return .float(Double(x))
                case let .tensor(result): return .tensor(result)
                }
            }
        case .list, .string:
            let elements: [Value]
            if case let .list(items) = base { elements = items } else if case let .string(s) = base { elements = s.map { .string(String($0)) } } else { elements = [] }
            guard items.count == 1 else { throw error("a \(base.typeName) takes one index", span) }
            let rebuild: ([Value]) -> Value = { values in
                if case .string = base { return .string(values.map { Format.plain($0) }.joined()) }
                return .list(values)
            }
            switch try selector(items[0], env) {
            case let .index(i): return elements[try listPosition(i, elements.count, span)]
            case let .range(start, stop, step):
                let s = try located(span) { try resolveSlice(start: start, stop: stop, step: step, length: elements.count) }
                return rebuild((0..<s.count).map { elements[s.start + $0 * s.step] })
            }
        default:
            if case .tracked = base {
                throw error("indexing a tensor tracked by `grad` is not differentiable", span,
                            notes: ["help: index outside the function given to `grad`, or compute with whole tensors"])
            }
            throw error("a \(base.typeName) cannot be indexed", span)
        }
    }

    func missingField(_ name: String, _ keys: [String], _ span: Span) -> Diagnostic {
        var notes = [String]()
        if let close = closestName(to: name, in: keys) { notes.append("help: did you mean `\(close)`?") }
        notes.append("note: fields: " + (keys.isEmpty ? "none" : keys.joined(separator: ", ")))
        return error("no field `\(name)`", span, notes: notes)
    }

    public static let tensorMembers = ["shape", "rank", "size", "T", "stats"]
    public static let modelMembers = ["params", "kind", "summary"]
    public static let treeMembers = ["n", "d", "branch", "depth", "leaf", "leaves", "nodes", "ms", "order", "agg"]

    func member(_ base: Value, _ name: String, _ span: Span) throws -> Value {
        switch base {
        case let .record(record):
            guard let value = record[name] else { throw missingField(name, record.keys, span) }
            return value
        case let .tree(t):
            // Only the member asked for is built (`order` is a list of N ints).
            switch name {
            case "n": return .int(t.count)
            case "d": return .int(t.dim)
            case "branch": return .int(t.branch)
            case "depth": return .int(t.depth)
            case "leaf": return .int(t.leafSize)
            case "leaves": return .int(t.leafCount)
            case "nodes": return .int(t.nodeCount)
            case "ms": return .float(t.buildMilliseconds)
            case "order": return .list(t.order.map { .int($0) })
            case "agg": return .string(t.aggregation.rawValue)
            default:
                var notes = [String]()
                if let close = closestName(to: name, in: Interpreter.treeMembers) { notes.append("help: did you mean `\(close)`?") }
                notes.append("note: tree members: " + Interpreter.treeMembers.joined(separator: ", "))
                throw error("a tree has no member `\(name)`", span, notes: notes)
            }
        case let .tensor(t, stats):
            switch name {
            case "shape": return .list(t.shape.map { .int($0) })
            case "rank": return .int(t.rank)
            case "size": return .int(t.count)
            case "T": return try located(span) { .tensor(try t.transposed()) }
            case "stats": return stats.map(Value.record) ?? .none
            default:
                if let value = stats?[name] { return value }
                let available = Interpreter.tensorMembers + (stats?.keys ?? [])
                var notes = [String]()
                if let close = closestName(to: name, in: available) { notes.append("help: did you mean `\(close)`?") }
                notes.append("note: tensor members: " + available.joined(separator: ", "))
                if stats == nil, ["tokens", "flops", "ms"].contains(name) {
                    notes.append("note: only results of attention operators carry statistics")
                }
                throw error("a tensor has no member `\(name)`", span, notes: notes)
            }
        case let .model(m):
            switch name {
            case "params": return .int(m.parameters.count)
            case "kind": return .string(m.architecture.kind)
            case "summary": return .string(m.architecture.summary)
            default:
                throw error("a model has no member `\(name)`", span,
                            notes: ["note: model members: " + Interpreter.modelMembers.joined(separator: ", ") + "; params(m) gives the weights"])
            }
        default:
            throw error("a \(base.typeName) has no member `\(name)`", span,
                        notes: ["help: members are read from records, tensors, trees and models"])
        }
    }

    // MARK: helpers for builtins

    /// The global generator, or a fresh one when `seed` is given.
    func withRandom<T>(seed: Int?, _ body: (inout Xoshiro256) throws -> T) rethrows -> T {
        if let seed {
            var local = Xoshiro256(seed: UInt64(bitPattern: Int64(seed)))
            return try body(&local)
        }
        return try body(&rng)
    }

    func setSeed(_ seed: Int) { rng = Xoshiro256(seed: UInt64(bitPattern: Int64(seed))) }

    /// A size argument: an int, or a function called with `n` (e.g. `depth=log` gets log(n)),
    /// whose result is rounded to the nearest integer.
    public func resolveSize(_ value: Value, n: Int, name: String) throws -> Int {
        var result = value
        if value.isCallable { result = try call(value, [.int(n)]) }
        guard let x = result.number, x.isFinite, Swift.abs(x) < 9e15 else {
            throw BuiltinError(message: "`\(name)` must be a number or a function of n returning a number, got \(result.typeName)")
        }
        return Int(x.rounded())
    }
}

extension Value {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}

extension Error {
    func render() -> String {
        if let d = self as? Diagnostic { return d.render() }
        return "error: \(self)\n"
    }
}
