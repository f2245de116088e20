// Turns source bytes into tokens. Newlines are always tokens; the parser decides where they
// end a statement and where (inside brackets) they are only layout. Keeping them lets the
// parser recover from an unclosed bracket at the next line instead of at the end of the file. Errors are collected, not thrown, so the
// parser can report several at once; a bad character becomes no token.
public struct Lexer {
    let file: SourceFile
    let bytes: [UInt8]
    var position = 0
    public private(set) var diagnostics: [Diagnostic] = []

    public init(file: SourceFile) {
        self.file = file
        self.bytes = file.bytes
    }

    public static func tokenize(_ file: SourceFile) -> (tokens: [Token], diagnostics: [Diagnostic]) {
        var lexer = Lexer(file: file)
        var tokens = [Token]()
        while true {
            let token = lexer.next()
            tokens.append(token)
            if token.kind == .eof { break }
        }
        return (tokens, lexer.diagnostics)
    }

    /// How many ( [ { are open at the end of `text`: the REPL keeps reading lines while positive.
    public static func openBrackets(in text: String) -> Int {
        var lexer = Lexer(file: SourceFile(name: "<input>", text: text))
        var depth = 0
        while true {
            let token = lexer.next()
            switch token.kind {
            case .symbol(.leftParen), .symbol(.leftBracket), .symbol(.leftBrace): depth += 1
            case .symbol(.rightParen), .symbol(.rightBracket), .symbol(.rightBrace): depth -= 1
            case .eof: return depth
            default: break
            }
        }
    }

    mutating func error(_ message: String, _ start: Int, _ end: Int, notes: [String] = []) {
        diagnostics.append(Diagnostic(message, span: Span(start, end), file: file, notes: notes))
    }

    func peek(_ offset: Int = 0) -> UInt8 {
        position + offset < bytes.count ? bytes[position + offset] : 0
    }

    public mutating func next() -> Token {
        while true {
            skipSpaceAndComments()
            let start = position
            guard position < bytes.count else { return Token(kind: .eof, span: Span(start, start)) }
            let c = bytes[position]
            if c == UInt8(ascii: "\n") {
                position += 1
                return Token(kind: .newline, span: Span(start, start + 1))
            }
            if isDigit(c) || (c == UInt8(ascii: ".") && isDigit(peek(1))) { return number() }
            if isIdentifierStart(c) { return identifier() }
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                return string(quote: c)
            }
            if let symbol = matchSymbol() {
                return Token(kind: .symbol(symbol), span: Span(start, position))
            }
            // Skip one whole UTF-8 character.
            position += 1
            while position < bytes.count && bytes[position] & 0xC0 == 0x80 { position += 1 }
            let character = file.slice(Span(start, position))
            let hint = character == "|" ? ["help: the pipe operator is `|>`"] : character == "&" ? ["help: logical and is `and`"] : []
            error("unexpected character `\(character)`", start, position, notes: hint)
        }
    }

    mutating func skipSpaceAndComments() {
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") {
                position += 1
            } else if c == UInt8(ascii: "#") {
                while position < bytes.count && bytes[position] != UInt8(ascii: "\n") { position += 1 }
            } else if c == UInt8(ascii: "\\") && peek(1) == UInt8(ascii: "\n") {
                position += 2  // explicit line continuation
            } else {
                return
            }
        }
    }

    mutating func matchSymbol() -> Symbol? {
        for symbol in Symbol.allCases {
            let text = Array(symbol.rawValue.utf8)
            if position + text.count <= bytes.count && Array(bytes[position..<(position + text.count)]) == text {
                position += text.count
                return symbol
            }
        }
        return nil
    }

    mutating func number() -> Token {
        let start = position
        var isFloat = false
        while isDigit(peek()) || peek() == UInt8(ascii: "_") { position += 1 }
        // "1." followed by a name is member access on an int (e.g. `1.e` is not supported anyway).
        if peek() == UInt8(ascii: "."), isDigit(peek(1)) || !isIdentifierStart(peek(1)) && peek(1) != UInt8(ascii: ".") {
            isFloat = true
            position += 1
            while isDigit(peek()) || peek() == UInt8(ascii: "_") { position += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            let save = position
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            if isDigit(peek()) {
                isFloat = true
                while isDigit(peek()) { position += 1 }
            } else {
                position = save + 1
                while isIdentifierPart(peek()) { position += 1 }
                error("malformed number `\(file.slice(Span(start, position)))`", start, position, notes: ["help: an exponent needs digits, as in `1e-3`"])
                return Token(kind: .float(0), span: Span(start, position))
            }
        }
        let text = file.slice(Span(start, position)).replacingOccurrences(of: "_", with: "")
        if isIdentifierStart(peek()) {
            let bad = position
            while isIdentifierPart(peek()) { position += 1 }
            error("malformed number `\(file.slice(Span(start, position)))`", start, position,
                  notes: ["help: a name cannot start with a digit"])
            _ = bad
        }
        if isFloat {
            return Token(kind: .float(Double(text) ?? 0), span: Span(start, position))
        }
        guard let value = Int(text) else {
            error("integer `\(text)` is too large (the limit is \(Int.max))", start, position, notes: ["help: write it as a float, e.g. `\(text).0`"])
            return Token(kind: .float(Double(text) ?? 0), span: Span(start, position))
        }
        return Token(kind: .int(value), span: Span(start, position))
    }

    mutating func identifier() -> Token {
        let start = position
        while isIdentifierPart(peek()) { position += 1 }
        let name = file.slice(Span(start, position))
        if let keyword = Keyword(rawValue: name) {
            return Token(kind: .keyword(keyword), span: Span(start, position))
        }
        return Token(kind: .identifier(name), span: Span(start, position))
    }

    mutating func string(quote: UInt8) -> Token {
        let start = position
        position += 1
        var value = [UInt8]()
        while position < bytes.count {
            let c = bytes[position]
            if c == quote {
                position += 1
                return Token(kind: .string(String(decoding: value, as: UTF8.self)), span: Span(start, position))
            }
            if c == UInt8(ascii: "\n") { break }
            if c == UInt8(ascii: "\\") {
                let escapeStart = position
                position += 1
                let e = peek()
                position += 1
                switch e {
                case UInt8(ascii: "n"): value.append(10)
                case UInt8(ascii: "t"): value.append(9)
                case UInt8(ascii: "r"): value.append(13)
                case UInt8(ascii: "0"): value.append(0)
                case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): value.append(e)
                default:
                    error("unknown escape `\\\(e == 0 ? "" : String(UnicodeScalar(e)))` in string", escapeStart, min(position, bytes.count),
                          notes: ["help: valid escapes are \\n \\t \\r \\0 \\\\ \\\" \\'"])
                }
                continue
            }
            value.append(c)
            position += 1
        }
        error("unterminated string", start, position, notes: ["help: close it with \(String(UnicodeScalar(quote))) on the same line"])
        return Token(kind: .string(String(decoding: value, as: UTF8.self)), span: Span(start, position))
    }
}

@inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
@inline(__always) func isIdentifierStart(_ c: UInt8) -> Bool {
    (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c >= 0x80
}
@inline(__always) func isIdentifierPart(_ c: UInt8) -> Bool { isIdentifierStart(c) || isDigit(c) }
