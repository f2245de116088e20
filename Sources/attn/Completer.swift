import AttnLang
import Foundation

// Completion candidates: REPL commands after `:`, keyword arguments inside a builtin's
// parentheses (`tca(q, t, de` -> `depth=`), members after `.`, otherwise builtins and variables.
// Readline's callbacks are C function pointers, so the state lives here behind a lock.
final class Completer: @unchecked Sendable {
    static let shared = Completer()
    static let wordBreaks = " \t\n()[]{},;=+-*/%@<>|!."

    private let lock = NSLock()
    private var interpreter: Interpreter?
    private var matches: [String] = []
    private var position = 0

    func attach(_ interpreter: Interpreter) {
        lock.withLock { self.interpreter = interpreter }
    }

    func prepare(word: String, before: String) {
        lock.withLock {
            matches = candidates(word: word, before: before).filter { $0.hasPrefix(word) }
            position = 0
        }
    }

    func next(reset: Bool) -> String? {
        lock.withLock {
            if reset { position = 0 }
            guard position < matches.count else { return nil }
            position += 1
            return matches[position - 1]
        }
    }

    private func candidates(word: String, before: String) -> [String] {
        let trimmed = before.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty && word.hasPrefix(":") {
            return ReplSession.commands.map { ":" + $0.name }
        }
        if trimmed.hasPrefix(":help") {
            return Registry.names + (interpreter?.variableNames ?? [])
        }
        if before.hasSuffix("."), let owner = Completer.trailingName(String(before.dropLast())) {
            return members(of: owner)
        }
        var result = [String]()
        if let function = Completer.enclosingCall(before), let builtin = Registry.builtins[function] {
            result += builtin.keywordNames.map { $0 + "=" }
        }
        if let function = Completer.enclosingCall(before), case let .function(closure)? = interpreter?.lookup(function) {
            result += closure.decl.parameters.map { $0.name + "=" }
        }
        result += (interpreter?.variableNames ?? []) + Registry.names
        result += ["fn", "if", "else", "for", "in", "while", "return", "true", "false", "none", "and", "or", "not"]
        var seen = Set<String>()
        return result.filter { seen.insert($0).inserted }
    }

    private func members(of name: String) -> [String] {
        switch interpreter?.lookup(name) {
        case let .record(r)?: return r.keys
        case let .tensor(_, stats)?: return Interpreter.tensorMembers + (stats?.keys ?? [])
        case .tree?: return Interpreter.treeMembers
        case .model?: return Interpreter.modelMembers
        default: return []
        }
    }

    /// The identifier at the end of `text`, if any.
    static func trailingName(_ text: String) -> String? {
        let name = String(text.reversed().prefix { $0.isLetter || $0.isNumber || $0 == "_" }.reversed())
        return name.isEmpty ? nil : name
    }

    /// The function whose argument list is open at the end of `text`: `tca(q, f(x), ` -> "tca".
    static func enclosingCall(_ text: String) -> String? {
        var depth = 0
        var index = text.endIndex
        while index > text.startIndex {
            index = text.index(before: index)
            switch text[index] {
            case ")", "]", "}": depth += 1
            case "[", "{": depth -= 1
            case "(":
                if depth == 0 { return trailingName(String(text[..<index])) }
                depth -= 1
            default: break
            }
            if depth < 0 { return nil }
        }
        return nil
    }
}
