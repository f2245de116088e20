import AttnKernels

// Runtime values. Lists and records are values (copied on assignment, as Swift arrays are);
// tensors share storage until written (copy-on-write). A tensor produced by an attention
// operator carries its statistics, readable as members (`y.tokens`, `y.flops`, `y.ms`).
public enum Value {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list([Value])
    case record(Record)
    case tensor(Tensor, stats: Record?)
    case tree(TensorTree)
    case function(Closure)
    case builtin(Builtin)
    /// A trainable model or module (a reference: `fit` updates its weights in place).
    case model(Model)
    /// A synthetic task's seeded batch generator (gp, copy_task, recall, listops).
    case task(any TrainingTask)
    /// A tensor on an autodiff tape, inside `grad(f, ...)`: operations on it are recorded.
    case tracked(TrackedTensor)

    public static func tensor(_ t: Tensor) -> Value { .tensor(t, stats: nil) }

    public var typeName: String {
        switch self {
        case .none: return "none"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "string"
        case .list: return "list"
        case .record: return "record"
        case .tensor, .tracked: return "tensor"
        case .tree: return "tree"
        case .model: return "model"
        case .task: return "task"
        case .function, .builtin: return "function"
        }
    }

    /// The number as a Double, for ints and floats.
    public var number: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .float(f): return f
        default: return nil
        }
    }

    public var isCallable: Bool {
        switch self {
        case .function, .builtin, .model: return true
        default: return false
        }
    }
}

/// An ordered record: fields keep the order they were written in.
public struct Record {
    public private(set) var keys: [String] = []
    public private(set) var values: [Value] = []

    public init() {}

    public init(_ fields: [(String, Value)]) {
        for (key, value) in fields { self[key] = value }
    }

    public subscript(key: String) -> Value? {
        get { keys.firstIndex(of: key).map { values[$0] } }
        set {
            if let index = keys.firstIndex(of: key) {
                if let newValue { values[index] = newValue } else { keys.remove(at: index); values.remove(at: index) }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    public var fields: [(String, Value)] { Array(zip(keys, values)) }
}

/// A user function with the environment it closes over.
public final class Closure {
    public let decl: FunctionDecl
    let environment: Environment
    let file: SourceFile

    init(decl: FunctionDecl, environment: Environment, file: SourceFile) {
        self.decl = decl
        self.environment = environment
        self.file = file
    }

    public var signature: String {
        let params = decl.parameters.map { p in
            p.defaultValue.map { "\(p.name)=\(file.slice($0.span))" } ?? p.name
        }
        return "\(decl.name ?? "fn")(\(params.joined(separator: ", ")))"
    }
}

/// Variables of one scope: a function call, or the top level.
public final class Environment {
    var variables: [String: Value] = [:]
    let parent: Environment?

    init(parent: Environment?) {
        self.parent = parent
    }

    func lookup(_ name: String) -> Value? {
        var scope: Environment? = self
        while let current = scope {
            if let value = current.variables[name] { return value }
            scope = current.parent
        }
        return nil
    }

    /// Names defined in this scope itself, sorted.
    public var variableNamesInScope: [String] { variables.keys.sorted() }

    /// Every name visible from here, for completion and "did you mean".
    var visibleNames: [String] {
        var names = Set<String>()
        var scope: Environment? = self
        while let current = scope {
            names.formUnion(current.variables.keys)
            scope = current.parent
        }
        return Array(names)
    }
}
