// The syntax tree. Every node carries the span of source it came from, so runtime errors can
// point at the exact expression.
public struct Expr {
    public indirect enum Kind {
        case int(Int)
        case float(Double)
        case string(String)
        case bool(Bool)
        case none
        case name(String)
        case list([Expr])
        case record([(key: String, value: Expr)])
        case unary(UnaryOperator, Expr)
        case binary(BinaryOperator, Expr, Expr)
        case logical(LogicalOperator, Expr, Expr)
        case call(callee: Expr, arguments: [CallArgument])
        case index(Expr, [IndexItem])
        case member(Expr, name: String, nameSpan: Span)
        case function(FunctionDecl)
    }

    public var kind: Kind
    public var span: Span
}

public enum UnaryOperator: String { case negate = "-", not = "not" }

public enum BinaryOperator: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", modulo = "%", power = "**", matmul = "@"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
}

public enum LogicalOperator: String { case and, or }

public struct CallArgument {
    public var label: String?
    public var labelSpan: Span?
    public var value: Expr
}

public enum IndexItem {
    case single(Expr)
    case slice(start: Expr?, stop: Expr?, step: Expr?, span: Span)
}

public struct Parameter {
    public var name: String
    public var defaultValue: Expr?
    public var span: Span
}

public final class FunctionDecl {
    public let name: String?
    public let parameters: [Parameter]
    public let body: [Stmt]
    public let span: Span

    init(name: String?, parameters: [Parameter], body: [Stmt], span: Span) {
        self.name = name
        self.parameters = parameters
        self.body = body
        self.span = span
    }
}

public struct Stmt {
    public indirect enum Kind {
        case expression(Expr)
        /// `target = value`, or `target op= value` when `compound` is set.
        case assign(target: Expr, compound: BinaryOperator?, value: Expr)
        case function(FunctionDecl)
        case ifElse(condition: Expr, then: [Stmt], otherwise: [Stmt]?)
        case forIn(variable: String, iterable: Expr, body: [Stmt])
        case whileLoop(condition: Expr, body: [Stmt])
        case returnValue(Expr?)
        case breakLoop
        case continueLoop
    }

    public var kind: Kind
    public var span: Span
}
