// Recursive-descent parser, one method per grammar rule in precedence order (lowest first):
//   statement  := fnDecl | if | for | while | return | break | continue | simple
//   simple     := expression (("=" | "+=" | "-=" | "*=" | "/=") expression)?
//   expression := pipe
//   pipe       := or ("|>" or)*            a |> f(b) means f(a, b)
//   or         := and ("or" and)*
//   and        := not ("and" not)*
//   not        := "not" not | comparison
//   comparison := additive (("==" | "!=" | "<" | "<=" | ">" | ">=") additive)*
//   additive   := term (("+" | "-") term)*
//   term       := unary (("*" | "/" | "%" | "@") unary)*
//   unary      := "-" unary | power
//   power      := postfix ("**" unary)?    right-associative, binds tighter than unary minus
//   postfix    := primary ("(" args ")" | "[" index "]" | "." NAME)*
// Newlines end statements, except inside ( ) and [ ] (and between record fields), where they
// are skipped; a { } block inside brackets makes them significant again.
// Errors are collected; after one, the parser skips to the next statement boundary.
// Nesting is limited so deep input reports "nesting too deep" instead of overflowing the stack.
public struct Parser {
    public static let maxNesting = 200

    let file: SourceFile
    var tokens: [Token]
    var current = 0
    var nesting = 0
    var loopDepth = 0
    var functionDepth = 0
    /// Whether newlines are layout (inside brackets) or statement ends, innermost last.
    var newlinesIgnored: [Bool] = [false]
    public private(set) var diagnostics: [Diagnostic] = []

    struct ParseError: Error {}
    /// Raised once nesting is too deep: parsing stops altogether.
    struct Abort: Error {}

    public init(file: SourceFile) {
        self.file = file
        let (tokens, lexDiagnostics) = Lexer.tokenize(file)
        self.tokens = tokens
        self.diagnostics = lexDiagnostics
    }

    /// Parses a whole program; returns the statements and every diagnostic (lexer's included).
    public static func parse(_ file: SourceFile) -> (statements: [Stmt], diagnostics: [Diagnostic]) {
        var parser = Parser(file: file)
        let statements = parser.program()
        let sorted = parser.diagnostics.sorted { ($0.span?.start ?? 0) < ($1.span?.start ?? 0) }
        return (statements, sorted)
    }

    // MARK: token helpers

    /// The first index at or after `index` that holds a token that matters here.
    func significant(_ index: Int) -> Int {
        var i = min(index, tokens.count - 1)
        if newlinesIgnored.last == true {
            while tokens[i].kind == .newline && i < tokens.count - 1 { i += 1 }
        }
        return i
    }

    var peek: Token { tokens[significant(current)] }
    var peekNext: Token { tokens[significant(significant(current) + 1)] }
    var previous: Token { tokens[max(0, current - 1)] }
    var atEnd: Bool { peek.kind == .eof }

    @discardableResult
    mutating func advance() -> Token {
        current = significant(current)
        let token = tokens[current]
        if current < tokens.count - 1 { current += 1 }
        return token
    }

    /// Parses `body` with newlines ignored (inside brackets) or significant (in a block).
    mutating func withNewlines<T>(ignored: Bool, _ body: (inout Parser) throws -> T) rethrows -> T {
        newlinesIgnored.append(ignored)
        defer { newlinesIgnored.removeLast() }
        return try body(&self)
    }

    func check(_ symbol: Symbol) -> Bool { peek.kind == .symbol(symbol) }
    func check(_ keyword: Keyword) -> Bool { peek.kind == .keyword(keyword) }

    mutating func match(_ symbol: Symbol) -> Bool {
        if check(symbol) { advance(); return true }
        return false
    }

    mutating func match(_ keyword: Keyword) -> Bool {
        if check(keyword) { advance(); return true }
        return false
    }

    mutating func skipNewlines() {
        while peek.kind == .newline { advance() }
    }

    mutating func fail(_ message: String, at span: Span? = nil, notes: [String] = []) -> ParseError {
        diagnostics.append(Diagnostic(message, span: span ?? peek.span, file: file, notes: notes))
        return ParseError()
    }

    @discardableResult
    mutating func expect(_ symbol: Symbol, _ context: String, notes: [String] = []) throws -> Token {
        if check(symbol) { return advance() }
        throw fail("expected `\(symbol.rawValue)` \(context), found \(peek.describe)", notes: notes)
    }

    mutating func expectName(_ context: String) throws -> (String, Span) {
        if case let .identifier(name) = peek.kind {
            let token = advance()
            return (name, token.span)
        }
        var notes = [String]()
        if case let .keyword(k) = peek.kind { notes.append("note: `\(k.rawValue)` is a reserved word") }
        throw fail("expected a name \(context), found \(peek.describe)", notes: notes)
    }

    mutating func enterNesting() throws {
        nesting += 1
        if nesting > Parser.maxNesting {
            diagnostics.append(Diagnostic("nesting too deep (more than \(Parser.maxNesting) levels)", span: peek.span, file: file,
                                          notes: ["help: split the expression into several statements"]))
            throw Abort()
        }
    }

    // MARK: statements

    mutating func program() -> [Stmt] {
        var statements = [Stmt]()
        do {
            statements = try statementList(until: nil)
        } catch {
            // Abort: the diagnostic is recorded.
        }
        return statements
    }

    /// Statements until `}` (when `until` is set) or end of input.
    mutating func statementList(until closing: Symbol?) throws -> [Stmt] {
        var statements = [Stmt]()
        while true {
            while peek.kind == .newline || check(.semicolon) { advance() }
            if atEnd { break }
            if let closing, check(closing) { break }
            if closing == nil && check(.rightBrace) {
                _ = fail("unmatched `}`")
                advance()
                continue
            }
            let depth = newlinesIgnored.count
            do {
                let parsed = try statement()
                try endOfStatement()
                statements.append(parsed)
            } catch is ParseError {
                newlinesIgnored.removeLast(newlinesIgnored.count - depth)
                synchronize()
            }
        }
        return statements
    }

    mutating func endOfStatement() throws {
        switch peek.kind {
        case .newline, .eof, .symbol(.semicolon), .symbol(.rightBrace): return
        default:
            var notes = [String]()
            if check(.assign) { notes.append("help: only a name, an index or a member can be assigned to") }
            else { notes.append("help: put each statement on its own line or separate them with `;`") }
            throw fail("expected end of statement, found \(peek.describe)", notes: notes)
        }
    }

    /// Skips to the next statement boundary, keeping braces balanced.
    mutating func synchronize() {
        var depth = 0
        while tokens[current].kind != .eof {
            switch tokens[current].kind {
            case .newline, .symbol(.semicolon):
                if depth == 0 { return }
            case .symbol(.leftBrace):
                depth += 1
            case .symbol(.rightBrace):
                if depth == 0 { return }
                depth -= 1
            default: break
            }
            current += 1
        }
    }

    mutating func statement() throws -> Stmt {
        let start = peek.span
        switch peek.kind {
        case .keyword(.fn):
            if case .identifier = peekNext.kind { return try functionDeclaration() }
        case .keyword(.if): return try ifStatement()
        case .keyword(.for): return try forStatement()
        case .keyword(.while): return try whileStatement()
        case .keyword(.return):
            if functionDepth == 0 { throw fail("`return` outside a function") }
            advance()
            switch peek.kind {
            case .newline, .eof, .symbol(.semicolon), .symbol(.rightBrace):
                return Stmt(kind: .returnValue(nil), span: start)
            default:
                let value = try expression()
                return Stmt(kind: .returnValue(value), span: start.to(value.span))
            }
        case .keyword(.break):
            if loopDepth == 0 { throw fail("`break` outside a loop") }
            advance()
            return Stmt(kind: .breakLoop, span: start)
        case .keyword(.continue):
            if loopDepth == 0 { throw fail("`continue` outside a loop") }
            advance()
            return Stmt(kind: .continueLoop, span: start)
        default: break
        }
        return try simpleStatement()
    }

    mutating func simpleStatement() throws -> Stmt {
        let target = try expression()
        let compound: [Symbol: BinaryOperator] = [.plusAssign: .add, .minusAssign: .subtract, .timesAssign: .multiply, .divideAssign: .divide]
        guard case let .symbol(symbol) = peek.kind, symbol == .assign || compound[symbol] != nil else {
            return Stmt(kind: .expression(target), span: target.span)
        }
        let operatorToken = advance()
        switch target.kind {
        case .name, .index, .member: break
        default:
            throw fail("cannot assign to this expression", at: target.span,
                       notes: ["help: only a name, an index or a member can be assigned to; to compare, use `==`"])
        }
        skipNewlines()
        let value = try expression()
        _ = operatorToken
        return Stmt(kind: .assign(target: target, compound: compound[symbol], value: value), span: target.span.to(value.span))
    }

    mutating func functionDeclaration() throws -> Stmt {
        let start = advance().span  // fn
        let (name, _) = try expectName("after `fn`")
        let decl = try functionRest(name: name, start: start, allowArrow: false)
        return Stmt(kind: .function(decl), span: start.to(decl.span))
    }

    /// Parameters and body after `fn` [name].
    mutating func functionRest(name: String?, start: Span, allowArrow: Bool) throws -> FunctionDecl {
        try expect(.leftParen, "to start the parameter list")
        newlinesIgnored.append(true)
        var parameters = [Parameter]()
        var seenDefault = false
        while !check(.rightParen) {
            let (parameterName, span) = try expectName("for a parameter")
            if parameters.contains(where: { $0.name == parameterName }) {
                throw fail("duplicate parameter `\(parameterName)`", at: span)
            }
            var defaultValue: Expr?
            if match(.assign) {
                defaultValue = try expression()
                seenDefault = true
            } else if seenDefault {
                throw fail("parameter `\(parameterName)` without a default follows one with a default", at: span)
            }
            parameters.append(Parameter(name: parameterName, defaultValue: defaultValue, span: span))
            if !match(.comma) { break }
        }
        try expect(.rightParen, "to close the parameter list")
        newlinesIgnored.removeLast()
        let savedLoops = loopDepth
        loopDepth = 0
        functionDepth += 1
        defer {
            loopDepth = savedLoops
            functionDepth -= 1
        }
        if allowArrow && match(.arrow) {
            let body = try expression()
            let returnStmt = Stmt(kind: .returnValue(body), span: body.span)
            return FunctionDecl(name: name, parameters: parameters, body: [returnStmt], span: start.to(body.span))
        }
        guard check(.leftBrace) else {
            throw fail("expected `{` to start the function body\(allowArrow ? " or `=>` before an expression" : ""), found \(peek.describe)")
        }
        let (body, span) = try block()
        return FunctionDecl(name: name, parameters: parameters, body: body, span: start.to(span))
    }

    mutating func block() throws -> ([Stmt], Span) {
        let open = try expect(.leftBrace, "to start a block")
        try enterNesting()
        newlinesIgnored.append(false)
        defer {
            nesting -= 1
            newlinesIgnored.removeLast()
        }
        let body = try statementList(until: .rightBrace)
        guard check(.rightBrace) else {
            throw fail("expected `}` to close the block opened here", at: open.span, notes: ["note: reached \(peek.describe)"])
        }
        let close = advance()
        return (body, open.span.to(close.span))
    }

    mutating func ifStatement() throws -> Stmt {
        let start = advance().span
        let condition = try expression()
        let (thenBody, thenSpan) = try block()
        var otherwise: [Stmt]?
        var end = thenSpan
        // `else` may start the next line.
        var lookahead = current
        while tokens[lookahead].kind == .newline { lookahead += 1 }
        if tokens[lookahead].kind == .keyword(.else) {
            current = lookahead
            advance()
            if check(.if) {
                let nested = try ifStatement()
                otherwise = [nested]
                end = nested.span
            } else {
                let (elseBody, elseSpan) = try block()
                otherwise = elseBody
                end = elseSpan
            }
        }
        return Stmt(kind: .ifElse(condition: condition, then: thenBody, otherwise: otherwise), span: start.to(end))
    }

    mutating func forStatement() throws -> Stmt {
        let start = advance().span
        let (variable, _) = try expectName("after `for`")
        guard match(.in) else { throw fail("expected `in` after the loop variable, found \(peek.describe)") }
        let iterable = try expression()
        loopDepth += 1
        defer { loopDepth -= 1 }
        let (body, span) = try block()
        return Stmt(kind: .forIn(variable: variable, iterable: iterable, body: body), span: start.to(span))
    }

    mutating func whileStatement() throws -> Stmt {
        let start = advance().span
        let condition = try expression()
        loopDepth += 1
        defer { loopDepth -= 1 }
        let (body, span) = try block()
        return Stmt(kind: .whileLoop(condition: condition, body: body), span: start.to(span))
    }

    // MARK: expressions

    mutating func expression() throws -> Expr {
        try enterNesting()
        defer { nesting -= 1 }
        return try pipe()
    }

    mutating func pipe() throws -> Expr {
        var left = try or()
        while match(.pipe) {
            skipNewlines()
            let right = try or()
            let span = left.span.to(right.span)
            if case let .call(callee, arguments) = right.kind {
                left = Expr(kind: .call(callee: callee, arguments: [CallArgument(label: nil, value: left)] + arguments), span: span)
            } else {
                left = Expr(kind: .call(callee: right, arguments: [CallArgument(label: nil, value: left)]), span: span)
            }
        }
        return left
    }

    mutating func or() throws -> Expr {
        var left = try and()
        while match(.or) {
            skipNewlines()
            let right = try and()
            left = Expr(kind: .logical(.or, left, right), span: left.span.to(right.span))
        }
        return left
    }

    mutating func and() throws -> Expr {
        var left = try not()
        while match(.and) {
            skipNewlines()
            let right = try not()
            left = Expr(kind: .logical(.and, left, right), span: left.span.to(right.span))
        }
        return left
    }

    mutating func not() throws -> Expr {
        if check(.not) {
            let start = advance().span
            try enterNesting()
            defer { nesting -= 1 }
            let operand = try not()
            return Expr(kind: .unary(.not, operand), span: start.to(operand.span))
        }
        return try comparison()
    }

    mutating func binaryLevel(_ operators: [Symbol: BinaryOperator], next: (inout Parser) throws -> Expr) throws -> Expr {
        var left = try next(&self)
        while case let .symbol(symbol) = peek.kind, let op = operators[symbol] {
            advance()
            skipNewlines()
            let right = try next(&self)
            left = Expr(kind: .binary(op, left, right), span: left.span.to(right.span))
        }
        return left
    }

    mutating func comparison() throws -> Expr {
        try binaryLevel([.equal: .equal, .notEqual: .notEqual, .less: .less, .lessEqual: .lessEqual,
                         .greater: .greater, .greaterEqual: .greaterEqual]) { try $0.additive() }
    }

    mutating func additive() throws -> Expr {
        try binaryLevel([.plus: .add, .minus: .subtract]) { try $0.term() }
    }

    mutating func term() throws -> Expr {
        try binaryLevel([.star: .multiply, .slash: .divide, .percent: .modulo, .at: .matmul]) { try $0.unary() }
    }

    mutating func unary() throws -> Expr {
        if check(.minus) {
            let start = advance().span
            try enterNesting()
            defer { nesting -= 1 }
            let operand = try unary()
            return Expr(kind: .unary(.negate, operand), span: start.to(operand.span))
        }
        return try power()
    }

    mutating func power() throws -> Expr {
        let base = try postfix()
        if match(.power) {
            try enterNesting()
            defer { nesting -= 1 }
            let exponent = try unary()
            return Expr(kind: .binary(.power, base, exponent), span: base.span.to(exponent.span))
        }
        return base
    }

    mutating func postfix() throws -> Expr {
        var expr = try primary()
        while true {
            if match(.leftParen) {
                let (arguments, close) = try withNewlines(ignored: true) { p in
                    (try p.argumentList(), try p.expect(.rightParen, "to close the call"))
                }
                expr = Expr(kind: .call(callee: expr, arguments: arguments), span: expr.span.to(close.span))
            } else if match(.leftBracket) {
                let (items, close) = try withNewlines(ignored: true) { p in
                    (try p.indexItems(), try p.expect(.rightBracket, "to close the index"))
                }
                expr = Expr(kind: .index(expr, items), span: expr.span.to(close.span))
            } else if match(.dot) {
                let (name, nameSpan) = try expectName("after `.`")
                expr = Expr(kind: .member(expr, name: name, nameSpan: nameSpan), span: expr.span.to(nameSpan))
            } else {
                return expr
            }
        }
    }

    mutating func argumentList() throws -> [CallArgument] {
        var arguments = [CallArgument]()
        var seenLabel = false
        while !check(.rightParen) {
            if case let .identifier(label) = peek.kind, peekNext.kind == .symbol(.assign) {
                let labelSpan = advance().span
                advance()
                if arguments.contains(where: { $0.label == label }) {
                    throw fail("keyword argument `\(label)` given twice", at: labelSpan)
                }
                arguments.append(CallArgument(label: label, labelSpan: labelSpan, value: try expression()))
                seenLabel = true
            } else {
                let value = try expression()
                if seenLabel {
                    throw fail("positional argument after a keyword argument", at: value.span,
                               notes: ["help: put positional arguments first"])
                }
                arguments.append(CallArgument(label: nil, labelSpan: nil, value: value))
            }
            if !match(.comma) { break }
        }
        return arguments
    }

    mutating func indexItems() throws -> [IndexItem] {
        var items = [IndexItem]()
        repeat {
            let start = peek.span
            var first: Expr?
            if !check(.colon) { first = try expression() }
            if check(.colon) {
                advance()
                var stop: Expr?, step: Expr?
                if !check(.colon) && !check(.comma) && !check(.rightBracket) { stop = try expression() }
                if match(.colon), !check(.comma) && !check(.rightBracket) { step = try expression() }
                items.append(.slice(start: first, stop: stop, step: step, span: start.to(previous.span)))
            } else if let first {
                items.append(.single(first))
            }
        } while match(.comma)
        if items.isEmpty { throw fail("empty index", notes: ["help: write `x[i]`, `x[a:b]` or `x[:, j]`"]) }
        return items
    }

    mutating func primary() throws -> Expr {
        let token = peek
        switch token.kind {
        case let .int(value): advance(); return Expr(kind: .int(value), span: token.span)
        case let .float(value): advance(); return Expr(kind: .float(value), span: token.span)
        case let .string(value): advance(); return Expr(kind: .string(value), span: token.span)
        case .keyword(.true): advance(); return Expr(kind: .bool(true), span: token.span)
        case .keyword(.false): advance(); return Expr(kind: .bool(false), span: token.span)
        case .keyword(.none): advance(); return Expr(kind: .none, span: token.span)
        case let .identifier(name): advance(); return Expr(kind: .name(name), span: token.span)
        case .keyword(.fn):
            advance()
            let decl = try functionRest(name: nil, start: token.span, allowArrow: true)
            return Expr(kind: .function(decl), span: decl.span)
        case .symbol(.leftParen):
            advance()
            let (inner, close) = try withNewlines(ignored: true) { p in
                (try p.expression(), try p.expect(.rightParen, "to close `(`"))
            }
            return Expr(kind: inner.kind, span: token.span.to(close.span))
        case .symbol(.leftBracket):
            advance()
            let (elements, close) = try withNewlines(ignored: true) { p -> ([Expr], Token) in
                var elements = [Expr]()
                while !p.check(.rightBracket) {
                    elements.append(try p.expression())
                    if !p.match(.comma) { break }
                }
                return (elements, try p.expect(.rightBracket, "to close the list"))
            }
            return Expr(kind: .list(elements), span: token.span.to(close.span))
        case .symbol(.leftBrace):
            return try record()
        default:
            var notes = [String]()
            if case .keyword(.else) = token.kind { notes.append("help: `else` must follow the `}` of an `if` block") }
            throw fail("expected an expression, found \(token.describe)", notes: notes)
        }
    }

    mutating func record() throws -> Expr {
        let open = advance()
        try enterNesting()
        newlinesIgnored.append(true)
        defer {
            nesting -= 1
            newlinesIgnored.removeLast()
        }
        var fields = [(key: String, value: Expr)]()
        skipNewlines()
        while !check(.rightBrace) {
            let key: String, keySpan: Span
            switch peek.kind {
            case let .identifier(name): key = name; keySpan = advance().span
            case let .string(text): key = text; keySpan = advance().span
            case let .keyword(k): key = k.rawValue; keySpan = advance().span
            default: throw fail("expected a field name in the record, found \(peek.describe)",
                                notes: ["help: records are written `{name: value, ...}`; blocks only follow `if`, `for`, `while` and `fn`"])
            }
            if fields.contains(where: { $0.key == key }) { throw fail("duplicate field `\(key)`", at: keySpan) }
            try expect(.colon, "after the field name `\(key)`")
            skipNewlines()
            fields.append((key, try expression()))
            skipNewlines()
            if !match(.comma) { break }
            skipNewlines()
        }
        let close = try expect(.rightBrace, "to close the record")
        return Expr(kind: .record(fields), span: open.span.to(close.span))
    }
}
