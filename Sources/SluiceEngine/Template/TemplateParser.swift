/// Parses template tokens into statements: text, output tags and block tags.
///
/// Expressions are parsed in `TemplateParser+Expressions.swift`.
struct TemplateParser {
    var tokens: [TemplateToken]
    var index = 0
    /// Current nesting of blocks and sub-expressions, bounded by `maxNestingDepth`.
    var depth = 0
    var loopDepth = 0

    /// Deeper nesting is rejected, so that a hostile template cannot exhaust the stack.
    static let maxNestingDepth = 64

    init(tokens: [TemplateToken]) {
        self.tokens = tokens
    }

    /// Parses a whole template.
    static func parse(_ tokens: [TemplateToken]) throws(ChatTemplateError) -> [TemplateNode] {
        var parser = TemplateParser(tokens: tokens)
        let (nodes, endTag) = try parser.parseBody(until: [])
        assert(endTag == nil)
        return nodes
    }

    var current: TemplateToken { tokens[index] }

    mutating func advance() {
        if index < tokens.count - 1 {
            index += 1
        }
    }

    /// Parses statements until a block tag named in `endTags`.
    ///
    /// Returns the statements and the name of the end tag, and leaves the parser
    /// on the token after that name. At the end of the template the end tag is
    /// nil, which is an error unless `endTags` is empty.
    mutating func parseBody(until endTags: Set<String>) throws(ChatTemplateError) -> ([TemplateNode], String?) {
        try enterNesting()
        defer { depth -= 1 }

        var nodes: [TemplateNode] = []
        while true {
            let token = current
            switch token.kind {
            case .text(let text):
                nodes.append(.text(text))
                advance()

            case .variableBegin:
                advance()
                let expression = try parseTuple()
                try expect(.variableEnd, "'}}'")
                nodes.append(.output(expression))

            case .blockBegin:
                advance()
                guard case .name(let tag) = current.kind else {
                    throw error("expected a tag name after '{%'")
                }
                if endTags.contains(tag) {
                    advance()
                    return (nodes, tag)
                }
                nodes.append(try parseStatement(tag))

            case .endOfTemplate:
                if !endTags.isEmpty {
                    let expected = endTags.sorted().map { "'{% \($0) %}'" }.joined(separator: " or ")
                    throw error("unexpected end of template: expected \(expected)")
                }
                return (nodes, nil)

            default:
                throw error("unexpected \(describe(token)) outside a tag")
            }
        }
    }

    private mutating func parseStatement(_ tag: String) throws(ChatTemplateError) -> TemplateNode {
        let offset = current.offset
        switch tag {
        case "if":
            return try parseIf()
        case "for":
            return try parseFor()
        case "set":
            return try parseSet()
        case "macro":
            return try parseMacro()
        case "break", "continue":
            guard loopDepth > 0 else {
                throw error("'{% \(tag) %}' outside a for loop")
            }
            advance()
            try expect(.blockEnd, "'%}'")
            return tag == "break" ? .breakLoop(offset: offset) : .continueLoop(offset: offset)
        case "generation":
            // Hugging Face marks the assistant's part with this tag; it renders its body unchanged.
            advance()
            try expect(.blockEnd, "'%}'")
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expect(.blockEnd, "'%}'")
            return .group(body)
        case "endif", "endfor", "endset", "endmacro", "elif", "else", "endgeneration", "endraw":
            throw error("unexpected '{% \(tag) %}' without a matching opening tag")
        default:
            throw error("unknown or unsupported tag '\(tag)'")
        }
    }

    private mutating func parseIf() throws(ChatTemplateError) -> TemplateNode {
        advance()
        var branches: [(condition: TemplateExpression, body: [TemplateNode])] = []
        var condition = try parseExpression()
        try expect(.blockEnd, "'%}'")

        while true {
            let (body, endTag) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch endTag {
            case "elif":
                condition = try parseExpression()
                try expect(.blockEnd, "'%}'")
            case "else":
                try expect(.blockEnd, "'%}'")
                let (otherwise, _) = try parseBody(until: ["endif"])
                try expect(.blockEnd, "'%}'")
                return .conditional(branches: branches, otherwise: otherwise)
            default:
                try expect(.blockEnd, "'%}'")
                return .conditional(branches: branches, otherwise: nil)
            }
        }
    }

    private mutating func parseFor() throws(ChatTemplateError) -> TemplateNode {
        let offset = current.offset
        advance()

        var targets: [String] = []
        let parenthesized = current.kind == .symbol("(")
        if parenthesized {
            advance()
        }
        repeat {
            if !targets.isEmpty {
                advance()
            }
            targets.append(try expectName("a loop variable name"))
        } while current.kind == .symbol(",")
        if parenthesized {
            try expect(.symbol(")"), "')'")
        }

        guard current.kind == .name("in") else {
            throw error("expected 'in' after the loop variables, found \(describe(current))")
        }
        advance()
        // The iterable takes no `if … else`, so that a trailing `if` filters the items.
        let iterable = try parseTuple(allowConditional: false)
        var filter: TemplateExpression?
        if current.kind == .name("if") {
            advance()
            filter = try parseExpression()
        }
        if current.kind == .name("recursive") {
            throw error("recursive loops are not supported")
        }
        try expect(.blockEnd, "'%}'")

        loopDepth += 1
        let (body, endTag) = try parseBody(until: ["else", "endfor"])
        loopDepth -= 1
        var otherwise: [TemplateNode]?
        try expect(.blockEnd, "'%}'")
        if endTag == "else" {
            (otherwise, _) = try parseBody(until: ["endfor"])
            try expect(.blockEnd, "'%}'")
        }
        return .loop(TemplateLoop(
            targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, offset: offset))
    }

    private mutating func parseSet() throws(ChatTemplateError) -> TemplateNode {
        advance()
        let offset = current.offset
        let first = try expectName("a variable name")
        let target: TemplateAssignmentTarget

        if current.kind == .symbol(".") {
            advance()
            target = .attribute(object: first, attribute: try expectName("an attribute name"))
        } else if current.kind == .symbol(",") {
            var names = [first]
            while current.kind == .symbol(",") {
                advance()
                names.append(try expectName("a variable name"))
            }
            target = .variables(names)
        } else {
            target = .variable(first)
        }

        if current.kind == .blockEnd {
            if case .variables = target {
                throw error("a '{% set %}' block assigns to one name, not several")
            }
            advance()
            let (body, _) = try parseBody(until: ["endset"])
            try expect(.blockEnd, "'%}'")
            return .blockAssignment(target, body: body, offset: offset)
        }
        try expect(.symbol("="), "'=' or '%}'")
        let value = try parseTuple()
        try expect(.blockEnd, "'%}'")
        return .assignment(target, value)
    }

    private mutating func parseMacro() throws(ChatTemplateError) -> TemplateNode {
        advance()
        let name = try expectName("a macro name")
        try expect(.symbol("("), "'('")

        var parameters: [(name: String, defaultValue: TemplateExpression?)] = []
        while current.kind != .symbol(")") {
            if !parameters.isEmpty {
                try expect(.symbol(","), "',' or ')'")
            }
            let parameter = try expectName("a parameter name")
            var defaultValue: TemplateExpression?
            if current.kind == .symbol("=") {
                advance()
                defaultValue = try parseExpression()
            }
            parameters.append((parameter, defaultValue))
        }
        advance()
        try expect(.blockEnd, "'%}'")

        let savedLoopDepth = loopDepth
        loopDepth = 0
        let (body, _) = try parseBody(until: ["endmacro"])
        loopDepth = savedLoopDepth
        if case .name = current.kind {
            // `{% endmacro name %}` may repeat the name.
            advance()
        }
        try expect(.blockEnd, "'%}'")
        return .macroDefinition(TemplateMacro(name: name, parameters: parameters, body: body))
    }

    // MARK: - Helpers

    mutating func enterNesting() throws(ChatTemplateError) {
        depth += 1
        guard depth <= Self.maxNestingDepth else {
            throw error("template nests blocks or expressions more than \(Self.maxNestingDepth) levels deep")
        }
    }

    mutating func expect(_ kind: TemplateToken.Kind, _ description: String) throws(ChatTemplateError) {
        guard current.kind == kind else {
            throw error("expected \(description), found \(describe(current))")
        }
        advance()
    }

    mutating func expectName(_ description: String) throws(ChatTemplateError) -> String {
        guard case .name(let name) = current.kind else {
            throw error("expected \(description), found \(describe(current))")
        }
        advance()
        return name
    }

    func error(_ message: String) -> ChatTemplateError {
        ChatTemplateError(.syntax, message, at: current.offset)
    }

    func describe(_ token: TemplateToken) -> String {
        switch token.kind {
        case .text: return "text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let name): return "'\(name)'"
        case .string: return "a string"
        case .integer(let value): return "'\(value)'"
        case .float(let value): return "'\(value)'"
        case .symbol(let symbol): return "'\(symbol)'"
        case .endOfTemplate: return "the end of the template"
        }
    }
}
