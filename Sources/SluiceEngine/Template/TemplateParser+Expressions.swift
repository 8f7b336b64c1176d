/// Expression parsing, with Jinja's operator precedence from loosest to tightest:
/// `if … else`, `or`, `and`, `not`, comparisons and `in`, `+ -`, `~`,
/// `* / // %`, `**`, unary `-` and `+`, then filters and tests, then
/// attribute access, subscripts and calls.
extension TemplateParser {
    /// Parses an expression, or a tuple of expressions separated by commas (evaluated as a list).
    mutating func parseTuple(allowConditional: Bool = true) throws(ChatTemplateError) -> TemplateExpression {
        let offset = current.offset
        let first = allowConditional ? try parseExpression() : try parseOr()
        guard current.kind == .symbol(",") else { return first }

        var elements = [first]
        while current.kind == .symbol(",") {
            advance()
            if !startsExpression(current) {
                break
            }
            elements.append(allowConditional ? try parseExpression() : try parseOr())
        }
        return TemplateExpression(kind: .list(elements), offset: offset)
    }

    mutating func parseExpression() throws(ChatTemplateError) -> TemplateExpression {
        try enterNesting()
        defer { depth -= 1 }

        var value = try parseOr()
        while current.kind == .name("if") {
            let offset = current.offset
            advance()
            let condition = try parseOr()
            var alternative: TemplateExpression?
            if current.kind == .name("else") {
                advance()
                alternative = try parseExpression()
            }
            value = TemplateExpression(
                kind: .conditional(value: value, condition: condition, alternative: alternative), offset: offset)
        }
        return value
    }

    private mutating func parseOr() throws(ChatTemplateError) -> TemplateExpression {
        var left = try parseAnd()
        while current.kind == .name("or") {
            let offset = current.offset
            advance()
            left = TemplateExpression(kind: .or(left, try parseAnd()), offset: offset)
        }
        return left
    }

    private mutating func parseAnd() throws(ChatTemplateError) -> TemplateExpression {
        var left = try parseNot()
        while current.kind == .name("and") {
            let offset = current.offset
            advance()
            left = TemplateExpression(kind: .and(left, try parseNot()), offset: offset)
        }
        return left
    }

    private mutating func parseNot() throws(ChatTemplateError) -> TemplateExpression {
        guard current.kind == .name("not") else {
            return try parseComparison()
        }
        let offset = current.offset
        advance()
        try enterNesting()
        defer { depth -= 1 }
        return TemplateExpression(kind: .not(try parseNot()), offset: offset)
    }

    private mutating func parseComparison() throws(ChatTemplateError) -> TemplateExpression {
        let offset = current.offset
        let first = try parseArithmetic()
        var operations: [(TemplateComparisonOperator, TemplateExpression)] = []

        while true {
            let comparison: TemplateComparisonOperator
            switch current.kind {
            case .symbol(let symbol):
                guard let symbolOperator = TemplateComparisonOperator(rawValue: symbol) else {
                    return finishComparison(first, operations, offset)
                }
                comparison = symbolOperator
                advance()
            case .name("in"):
                comparison = .contains
                advance()
            case .name("not") where index + 1 < tokens.count && tokens[index + 1].kind == .name("in"):
                comparison = .notContains
                advance()
                advance()
            default:
                return finishComparison(first, operations, offset)
            }
            operations.append((comparison, try parseArithmetic()))
        }
    }

    private func finishComparison(
        _ first: TemplateExpression,
        _ operations: [(TemplateComparisonOperator, TemplateExpression)],
        _ offset: Int
    ) -> TemplateExpression {
        operations.isEmpty ? first : TemplateExpression(kind: .comparison(first, operations), offset: offset)
    }

    private mutating func parseArithmetic() throws(ChatTemplateError) -> TemplateExpression {
        var left = try parseConcatenation()
        while let binary = binaryOperator(in: [.add, .subtract]) {
            let offset = current.offset
            advance()
            left = TemplateExpression(kind: .binary(binary, left, try parseConcatenation()), offset: offset)
        }
        return left
    }

    private mutating func parseConcatenation() throws(ChatTemplateError) -> TemplateExpression {
        var left = try parseTerm()
        while current.kind == .symbol("~") {
            let offset = current.offset
            advance()
            left = TemplateExpression(kind: .binary(.concatenate, left, try parseTerm()), offset: offset)
        }
        return left
    }

    private mutating func parseTerm() throws(ChatTemplateError) -> TemplateExpression {
        var left = try parsePower()
        while let binary = binaryOperator(in: [.multiply, .divide, .floorDivide, .modulo]) {
            let offset = current.offset
            advance()
            left = TemplateExpression(kind: .binary(binary, left, try parsePower()), offset: offset)
        }
        return left
    }

    private mutating func parsePower() throws(ChatTemplateError) -> TemplateExpression {
        var left = try parseUnary(withFilters: true)
        while current.kind == .symbol("**") {
            let offset = current.offset
            advance()
            left = TemplateExpression(kind: .binary(.power, left, try parseUnary(withFilters: true)), offset: offset)
        }
        return left
    }

    private func binaryOperator(in candidates: [TemplateBinaryOperator]) -> TemplateBinaryOperator? {
        guard case .symbol(let symbol) = current.kind, let binary = TemplateBinaryOperator(rawValue: symbol) else {
            return nil
        }
        return candidates.contains(binary) ? binary : nil
    }

    /// Parses a unary minus or plus, a primary with its postfix operations, and
    /// (unless the expression is the operand of a unary sign) its filters and tests,
    /// so that `-x | abs` is `(-x) | abs`, as in Jinja.
    private mutating func parseUnary(withFilters: Bool) throws(ChatTemplateError) -> TemplateExpression {
        try enterNesting()
        defer { depth -= 1 }

        let offset = current.offset
        var expression: TemplateExpression
        if current.kind == .symbol("-") {
            advance()
            expression = TemplateExpression(kind: .negate(try parseUnary(withFilters: false)), offset: offset)
        } else if current.kind == .symbol("+") {
            advance()
            expression = TemplateExpression(kind: .plus(try parseUnary(withFilters: false)), offset: offset)
        } else {
            expression = try parsePrimary()
        }
        expression = try parsePostfix(expression)
        if withFilters {
            expression = try parseFiltersAndTests(expression)
        }
        return expression
    }

    private mutating func parsePrimary() throws(ChatTemplateError) -> TemplateExpression {
        let token = current
        switch token.kind {
        case .name(let name):
            advance()
            switch name {
            case "true", "True": return TemplateExpression(kind: .literal(.boolean(true)), offset: token.offset)
            case "false", "False": return TemplateExpression(kind: .literal(.boolean(false)), offset: token.offset)
            case "none", "None": return TemplateExpression(kind: .literal(.none), offset: token.offset)
            default: return TemplateExpression(kind: .variable(name), offset: token.offset)
            }

        case .string(var value):
            advance()
            // Adjacent string literals join, as in Python.
            while case .string(let next) = current.kind {
                value += next
                advance()
            }
            return TemplateExpression(kind: .literal(.string(value)), offset: token.offset)

        case .integer(let value):
            advance()
            return TemplateExpression(kind: .literal(.integer(value)), offset: token.offset)

        case .float(let value):
            advance()
            return TemplateExpression(kind: .literal(.float(value)), offset: token.offset)

        case .symbol("("):
            advance()
            if current.kind == .symbol(")") {
                advance()
                return TemplateExpression(kind: .list([]), offset: token.offset)
            }
            let inner = try parseTuple()
            try expect(.symbol(")"), "')'")
            return inner

        case .symbol("["):
            advance()
            var elements: [TemplateExpression] = []
            while current.kind != .symbol("]") {
                if !elements.isEmpty {
                    try expect(.symbol(","), "',' or ']'")
                    if current.kind == .symbol("]") { break }
                }
                elements.append(try parseExpression())
            }
            advance()
            return TemplateExpression(kind: .list(elements), offset: token.offset)

        case .symbol("{"):
            advance()
            var entries: [(key: TemplateExpression, value: TemplateExpression)] = []
            while current.kind != .symbol("}") {
                if !entries.isEmpty {
                    try expect(.symbol(","), "',' or '}'")
                    if current.kind == .symbol("}") { break }
                }
                let key = try parseExpression()
                try expect(.symbol(":"), "':'")
                entries.append((key, try parseExpression()))
            }
            advance()
            return TemplateExpression(kind: .dictionary(entries), offset: token.offset)

        default:
            throw error("expected an expression, found \(describe(token))")
        }
    }

    private mutating func parsePostfix(_ base: TemplateExpression) throws(ChatTemplateError) -> TemplateExpression {
        var expression = base
        while true {
            let offset = current.offset
            switch current.kind {
            case .symbol("."):
                advance()
                switch current.kind {
                case .name(let name):
                    advance()
                    expression = TemplateExpression(kind: .attribute(expression, name), offset: offset)
                case .integer(let position):
                    // `items.0` is Jinja's spelling of `items[0]`.
                    advance()
                    let indexExpression = TemplateExpression(kind: .literal(.integer(position)), offset: offset)
                    expression = TemplateExpression(kind: .subscriptAccess(expression, indexExpression), offset: offset)
                default:
                    throw error("expected an attribute name after '.', found \(describe(current))")
                }

            case .symbol("["):
                advance()
                expression = try parseSubscript(of: expression, offset: offset)

            case .symbol("("):
                // A failing call points at the start of the callee, such as the function's name.
                advance()
                expression = TemplateExpression(kind: .call(expression, try parseArguments()), offset: expression.offset)

            default:
                return expression
            }
        }
    }

    /// Parses `[index]` or `[start:stop:step]` after the opening bracket.
    private mutating func parseSubscript(of object: TemplateExpression, offset: Int) throws(ChatTemplateError) -> TemplateExpression {
        var parts: [TemplateExpression?] = []
        var current: TemplateExpression?
        var sawColon = false

        while true {
            if self.current.kind == .symbol("]") {
                advance()
                break
            }
            if self.current.kind == .symbol(":") {
                advance()
                parts.append(current)
                current = nil
                sawColon = true
                continue
            }
            guard current == nil else {
                throw error("expected ':' or ']' in subscript, found \(describe(self.current))")
            }
            current = try parseExpression()
        }
        parts.append(current)

        if !sawColon {
            guard let index = parts[0] else {
                throw ChatTemplateError(.syntax, "empty subscript '[]'", at: offset)
            }
            return TemplateExpression(kind: .subscriptAccess(object, index), offset: offset)
        }
        guard parts.count <= 3 else {
            throw ChatTemplateError(.syntax, "a slice takes at most start, stop and step", at: offset)
        }
        let step = parts.count == 3 ? parts[2] : nil
        return TemplateExpression(kind: .slice(object, start: parts[0], stop: parts[1], step: step), offset: offset)
    }

    /// Parses call arguments after the opening parenthesis, up to and including the closing one.
    private mutating func parseArguments() throws(ChatTemplateError) -> TemplateCallArguments {
        var arguments = TemplateCallArguments()
        var first = true
        while current.kind != .symbol(")") {
            if !first {
                try expect(.symbol(","), "',' or ')'")
                if current.kind == .symbol(")") { break }
            }
            first = false

            if case .name(let name) = current.kind, index + 1 < tokens.count, tokens[index + 1].kind == .symbol("=") {
                advance()
                advance()
                arguments.keyword.append((name, try parseExpression()))
            } else {
                guard arguments.keyword.isEmpty else {
                    throw error("positional argument follows keyword argument")
                }
                arguments.positional.append(try parseExpression())
            }
        }
        advance()
        return arguments
    }

    private mutating func parseFiltersAndTests(_ base: TemplateExpression) throws(ChatTemplateError) -> TemplateExpression {
        var expression = base
        while true {
            let offset = current.offset
            if current.kind == .symbol("|") {
                advance()
                let name = try expectName("a filter name after '|'")
                var arguments = TemplateCallArguments()
                if current.kind == .symbol("(") {
                    advance()
                    arguments = try parseArguments()
                }
                expression = TemplateExpression(kind: .filter(expression, name: name, arguments), offset: offset)
            } else if current.kind == .name("is") {
                advance()
                var negated = false
                if current.kind == .name("not") {
                    negated = true
                    advance()
                }
                let name = try parseTestName()
                var arguments = TemplateCallArguments()
                if current.kind == .symbol("(") {
                    advance()
                    arguments = try parseArguments()
                } else if startsTestArgument(current) {
                    // `x is divisibleby 3` passes one argument without parentheses.
                    arguments.positional.append(try parseUnary(withFilters: false))
                }
                expression = TemplateExpression(
                    kind: .test(expression, name: name, arguments, negated: negated), offset: offset)
            } else {
                return expression
            }
        }
    }

    /// Test names are names, plus the literals `none`, `true` and `false` and comparison symbols.
    private mutating func parseTestName() throws(ChatTemplateError) -> String {
        switch current.kind {
        case .name(let name):
            advance()
            return name
        case .symbol(let symbol) where ["==", "!=", "<", "<=", ">", ">="].contains(symbol):
            advance()
            return symbol
        default:
            throw error("expected a test name after 'is', found \(describe(current))")
        }
    }

    private func startsTestArgument(_ token: TemplateToken) -> Bool {
        switch token.kind {
        case .name(let name):
            return !["and", "or", "else", "if", "in", "not", "is", "for", "recursive"].contains(name)
        case .string, .integer, .float:
            return true
        case .symbol(let symbol):
            return symbol == "[" || symbol == "{"
        default:
            return false
        }
    }

    private func startsExpression(_ token: TemplateToken) -> Bool {
        switch token.kind {
        case .name, .string, .integer, .float:
            return true
        case .symbol(let symbol):
            return ["(", "[", "{", "-", "+"].contains(symbol)
        default:
            return false
        }
    }
}
