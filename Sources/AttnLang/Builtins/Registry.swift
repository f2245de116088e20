import AttnKernels

// The one registry of builtins. Each builtin declares its parameters (name, type, default),
// a one-line summary and a longer doc; calls are bound and type-checked here, from the
// signature, before the implementation runs. The evaluator reaches kernels only through this.
public indirect enum ParamType {
    case any, number, int, bool, string, tensor, list, record, function, tree, model, task
    case tensorOrNumber, tensorOrList
    /// A size: an int, or a function of N returning one (e.g. `depth=log`).
    case size
    /// The type, or `none`.
    case optional(ParamType)

    public var label: String {
        switch self {
        case .any: return "any"
        case .number: return "number"
        case .int: return "int"
        case .bool: return "bool"
        case .string: return "string"
        case .tensor: return "tensor"
        case .list: return "list"
        case .record: return "record"
        case .function: return "function"
        case .tree: return "tree"
        case .model: return "model"
        case .task: return "task"
        case .tensorOrNumber: return "tensor|number"
        case .tensorOrList: return "tensor|list"
        case .size: return "int|fn(n)"
        case let .optional(inner): return inner.label + "|none"
        }
    }

    func accepts(_ value: Value) -> Bool {
        switch (self, value) {
        case (.any, _): return true
        case (.number, .int), (.number, .float): return true
        case (.int, .int): return true
        case (.int, .float(let f)): return f.rounded() == f && Swift.abs(f) < 9e15
        case (.bool, .bool), (.string, .string), (.tensor, .tensor), (.list, .list), (.record, .record): return true
        case (.function, .function), (.function, .builtin): return true
        case (.tree, .tree), (.model, .model), (.task, .task): return true
        case (.tensor, .tracked), (.tensorOrNumber, .tracked), (.tensorOrList, .tracked): return true
        case (.tensorOrNumber, .tensor), (.tensorOrNumber, .int), (.tensorOrNumber, .float): return true
        case (.tensorOrList, .tensor), (.tensorOrList, .list): return true
        case (.size, .int), (.size, .function), (.size, .builtin): return true
        case (.size, .float(let f)): return f.rounded() == f
        case (.optional, .none): return true
        case let (.optional(inner), _): return inner.accepts(value)
        default: return false
        }
    }
}

public struct Param {
    public var name: String
    public var type: ParamType
    /// nil: required.
    public var defaultValue: Value?
    /// Collects the remaining positional arguments (e.g. the sizes of `randn(4096, 64)`).
    public var variadic = false

    public static func required(_ name: String, _ type: ParamType) -> Param {
        Param(name: name, type: type, defaultValue: nil)
    }
    public static func optional(_ name: String, _ type: ParamType, _ defaultValue: Value = .none) -> Param {
        Param(name: name, type: type, defaultValue: defaultValue)
    }
    public static func rest(_ name: String, _ type: ParamType) -> Param {
        Param(name: name, type: type, defaultValue: nil, variadic: true)
    }
}

public struct Builtin {
    public typealias Implementation = (Arguments, Interpreter) throws -> Value

    public var name: String
    public var params: [Param]
    public var summary: String
    public var doc: String
    public var family: String = ""
    var implementation: Implementation

    public init(_ name: String, _ params: [Param], summary: String, doc: String = "", implementation: @escaping Implementation) {
        self.name = name
        self.params = params
        self.summary = summary
        self.doc = doc
        self.implementation = implementation
    }

    public var signature: String {
        let parts = params.map { p -> String in
            if p.variadic { return "\(p.name)...: \(p.type.label)" }
            if let d = p.defaultValue { return "\(p.name): \(p.type.label) = \(Format.inline(d))" }
            return "\(p.name): \(p.type.label)"
        }
        return "\(name)(\(parts.joined(separator: ", ")))"
    }

    public var keywordNames: [String] { params.filter { !$0.variadic }.map(\.name) }

    public var help: String {
        var text = signature + "\n  " + summary + "\n"
        if !doc.isEmpty { text += doc.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") + "\n" }
        return text
    }
}

/// A call's arguments after binding to a builtin's parameters.
public struct Arguments {
    var values: [String: Value]
    var rest: [Value]
    let builtin: Builtin

    public subscript(name: String) -> Value { values[name] ?? .none }
    public var variadic: [Value] { rest }

    func fail(_ message: String, _ notes: [String] = []) -> BuiltinError {
        BuiltinError(message: message, notes: notes)
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard case let .tensor(t, _) = self[name] else { throw fail("`\(name)` must be a tensor, got \(self[name].typeName)") }
        return t
    }

    public func optionalTensor(_ name: String) throws -> Tensor? {
        if case .none = self[name] { return nil }
        return try tensor(name)
    }

    public func int(_ name: String) throws -> Int {
        switch self[name] {
        case let .int(i): return i
        case let .float(f) where f.rounded() == f && Swift.abs(f) < 9e15: return Int(f)
        default: throw fail("`\(name)` must be an int, got \(Format.inline(self[name]))")
        }
    }

    public func optionalInt(_ name: String) throws -> Int? {
        if case .none = self[name] { return nil }
        return try int(name)
    }

    public func double(_ name: String) throws -> Double {
        guard let x = self[name].number else { throw fail("`\(name)` must be a number, got \(self[name].typeName)") }
        return x
    }

    public func optionalDouble(_ name: String) throws -> Double? {
        if case .none = self[name] { return nil }
        return try double(name)
    }

    public func bool(_ name: String) throws -> Bool {
        guard case let .bool(b) = self[name] else { throw fail("`\(name)` must be a bool, got \(self[name].typeName)") }
        return b
    }

    /// A size argument (a number or a function of N), or nil when it is none.
    func size(_ name: String, n: Int, _ interp: Interpreter) throws -> Int? {
        if case .none = self[name] { return nil }
        return try interp.resolveSize(self[name], n: n, name: name)
    }

    /// A seed for a builtin's own generator: `seed=` if given, else the next draw of the global stream.
    func seed(_ interp: Interpreter) throws -> UInt64 {
        if let seed = try optionalInt("seed") { return UInt64(bitPattern: Int64(seed)) }
        return interp.withRandom(seed: nil) { $0.next() }
    }

    /// A string option checked against its choices.
    func choice<T: RawRepresentable>(_ name: String, _ type: T.Type, _ options: [String]) throws -> T where T.RawValue == String {
        let text = try string(name)
        guard let value = T(rawValue: text) else {
            throw fail("`\(name)` must be one of \(options.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(text)\"")
        }
        return value
    }

    public func string(_ name: String) throws -> String {
        guard case let .string(s) = self[name] else { throw fail("`\(name)` must be a string, got \(self[name].typeName)") }
        return s
    }

    public func optionalString(_ name: String) throws -> String? {
        if case .none = self[name] { return nil }
        return try string(name)
    }
}

/// An error a builtin raises about its arguments; the interpreter points it at the call.
public struct BuiltinError: Error {
    public var message: String
    public var notes: [String] = []
    public init(message: String, notes: [String] = []) {
        self.message = message
        self.notes = notes
    }
}

public enum Registry {
    /// Families in the order `help()` lists them.
    static let families: [(name: String, builtins: [Builtin])] = [
        ("core", CoreBuiltins.all),
        ("tensors", TensorBuiltins.all),
        ("math", MathBuiltins.all),
        ("attention", AttentionBuiltins.all),
        ("trees", TreeBuiltins.all),
        ("linear", LinearBuiltins.all),
        ("autodiff", GradBuiltins.all),
        ("training", ModuleBuiltins.all + TaskBuiltins.all + FitBuiltins.all),
        ("files", FileBuiltins.all),
        ("reports", TableBuiltins.all + PlotBuiltins.all + ProgressBuiltins.all),
        ("timing", TimingBuiltins.all),
    ]

    public static let builtins: [String: Builtin] = {
        var table = [String: Builtin]()
        for family in families {
            for var builtin in family.builtins {
                builtin.family = family.name
                table[builtin.name] = builtin
            }
        }
        return table
    }()

    public static var names: [String] { builtins.keys.sorted() }

    /// Binds positional and keyword arguments to the builtin's parameters, checking types.
    static func bind(_ builtin: Builtin, positional: [Value], keywords: [(name: String, value: Value)]) throws -> Arguments {
        var values = [String: Value]()
        var rest = [Value]()
        let signatureNote = "note: \(builtin.signature)"
        var index = 0
        for param in builtin.params {
            if param.variadic {
                rest = Array(positional[index...])
                index = positional.count
                for value in rest where !param.type.accepts(value) {
                    throw BuiltinError(message: "`\(builtin.name)` expects \(param.type.label) values for `\(param.name)...`, got \(value.typeName)", notes: [signatureNote])
                }
                continue
            }
            if index < positional.count {
                values[param.name] = positional[index]
                index += 1
            }
        }
        if index < positional.count {
            let maximum = builtin.params.filter { !$0.variadic }.count
            throw BuiltinError(message: "`\(builtin.name)` takes at most \(maximum) positional argument\(maximum == 1 ? "" : "s"), got \(positional.count)", notes: [signatureNote])
        }
        for (name, value) in keywords {
            guard let param = builtin.params.first(where: { $0.name == name && !$0.variadic }) else {
                var notes = [String]()
                if let close = closestName(to: name, in: builtin.keywordNames) { notes.append("help: did you mean `\(close)`?") }
                notes.append("note: valid keywords: " + (builtin.keywordNames.isEmpty ? "none" : builtin.keywordNames.joined(separator: ", ")))
                notes.append(signatureNote)
                throw BuiltinError(message: "`\(builtin.name)` has no keyword argument `\(name)`", notes: notes)
            }
            if values[param.name] != nil {
                throw BuiltinError(message: "`\(builtin.name)` got two values for `\(name)`", notes: [signatureNote])
            }
            values[param.name] = value
        }
        for param in builtin.params where !param.variadic {
            if let value = values[param.name] {
                guard param.type.accepts(value) else {
                    throw BuiltinError(message: "`\(builtin.name)` expects \(param.type.label) for `\(param.name)`, got \(value.typeName) \(Format.inline(value).prefix(40))", notes: [signatureNote])
                }
            } else if let defaultValue = param.defaultValue {
                values[param.name] = defaultValue
            } else {
                throw BuiltinError(message: "`\(builtin.name)` is missing its argument `\(param.name)`", notes: [signatureNote])
            }
        }
        return Arguments(values: values, rest: rest, builtin: builtin)
    }
}
