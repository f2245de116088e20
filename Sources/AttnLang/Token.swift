// Tokens produced by the Lexer. Keywords are their own kinds so the parser can match on them.
public enum TokenKind: Equatable, Sendable {
    case int(Int)
    case float(Double)
    case string(String)
    case identifier(String)
    case keyword(Keyword)
    case symbol(Symbol)
    case newline
    case eof
}

public enum Keyword: String, CaseIterable, Sendable {
    case fn, `if`, `else`, `for`, `in`, `while`, `return`, `break`, `continue`
    case `true`, `false`, none, and, or, not
}

public enum Symbol: String, CaseIterable, Sendable {
    // Longest first: the lexer tries them in this order.
    case pipe = "|>", arrow = "=>", power = "**", equal = "==", notEqual = "!=", lessEqual = "<=", greaterEqual = ">="
    case plusAssign = "+=", minusAssign = "-=", timesAssign = "*=", divideAssign = "/="
    case leftParen = "(", rightParen = ")", leftBracket = "[", rightBracket = "]", leftBrace = "{", rightBrace = "}"
    case comma = ",", colon = ":", semicolon = ";", dot = ".", assign = "="
    case plus = "+", minus = "-", star = "*", slash = "/", percent = "%", at = "@", less = "<", greater = ">"
}

public struct Token: Equatable, Sendable {
    public var kind: TokenKind
    public var span: Span

    public var describe: String {
        switch kind {
        case let .int(v): return "number `\(v)`"
        case let .float(v): return "number `\(v)`"
        case .string: return "a string"
        case let .identifier(name): return "name `\(name)`"
        case let .keyword(k): return "keyword `\(k.rawValue)`"
        case let .symbol(s): return "`\(s.rawValue)`"
        case .newline: return "end of line"
        case .eof: return "end of input"
        }
    }
}
