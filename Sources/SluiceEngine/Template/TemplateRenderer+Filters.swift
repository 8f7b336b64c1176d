extension TemplateRenderer {
    /// The filters `applyFilter` implements; the parser's check rejects any other name.
    static let filterNames: Set<String> = [
        "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "indent", "int",
        "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace",
        "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim",
        "unique", "upper",
    ]

    /// The tests `applyTest` implements.
    static let testNames: Set<String> = [
        "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string",
        "mapping", "iterable", "sequence", "callable", "even", "odd", "divisibleby", "eq", "equalto", "==", "ne",
        "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "sameas", "lower",
        "upper",
    ]

    // MARK: - Filters

    func applyFilter(_ name: String, to value: TemplateValue, _ arguments: TemplateArguments) throws(ChatTemplateError) -> TemplateValue {
        switch name {
        case "default", "d":
            try arguments.check(function: name, maxPositional: 2, keywords: ["default_value", "boolean"])
            let fallback = arguments.value(0, "default_value") ?? .string("")
            let checksTruth = arguments.value(1, "boolean")?.isTruthy ?? false
            if value.isUndefined || (checksTruth && !value.isTruthy) {
                return fallback
            }
            return value

        case "length", "count":
            try arguments.check(function: name, maxPositional: 0)
            return .integer(try Self.length(of: value))

        case "trim":
            try arguments.check(function: name, maxPositional: 1, keywords: ["chars"])
            return .string(Self.strip(value.text, characters: arguments.value(0, "chars"), leading: true, trailing: true))

        case "upper":
            return .string(value.text.uppercased())

        case "lower":
            return .string(value.text.lowercased())

        case "capitalize":
            return .string(Self.capitalize(value.text))

        case "title":
            return .string(Self.jinjaTitle(value.text))

        case "string":
            return .string(value.text)

        case "safe":
            return value

        case "e", "escape":
            return .string(Self.escapeHTML(value.text))

        case "tojson":
            try arguments.check(function: name, maxPositional: 1, keywords: ["indent"])
            var indent: Int?
            if let indentValue = arguments.value(0, "indent"), !(indentValue.isUndefined) {
                if case .none = indentValue {
                    indent = nil
                } else if let width = indentValue.integer {
                    guard width <= 1_000 else {
                        throw ChatTemplateError(.limitExceeded, "tojson indent \(width) is larger than 1000")
                    }
                    indent = width
                } else {
                    throw ChatTemplateError(.invalidOperation, "tojson indent must be an integer")
                }
            }
            return .string(try TemplateJSONEncoder.encode(value, indent: indent))

        case "join":
            try arguments.check(function: name, maxPositional: 2, keywords: ["d", "attribute"])
            let separator = arguments.value(0, "d")?.text ?? ""
            var items = try iterate(value)
            if let attributeName = arguments.value(1, "attribute") {
                items = try items.map { item throws(ChatTemplateError) in try attributePath(attributeName, of: item) }
            }
            let texts = items.map(\.text)
            let size = texts.reduce(0) { $0 + $1.utf8.count } + separator.utf8.count * max(0, texts.count - 1)
            try Self.checkStringSize(size)
            return .string(texts.joined(separator: separator))

        case "first":
            return try iterate(value).first ?? .undefined("first item of an empty sequence")

        case "last":
            return try iterate(value).last ?? .undefined("last item of an empty sequence")

        case "list":
            return .list(try iterate(value))

        case "reverse":
            if case .string(let text) = value {
                return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed())))
            }
            return .list(try iterate(value).reversed())

        case "items":
            switch value {
            case .undefined:
                return .list([])
            case .dictionary(let dictionary):
                return .list(dictionary.entries.map { .list([$0.key, $0.value]) })
            default:
                throw ChatTemplateError(.invalidOperation, "items filter needs a dict, not '\(value.typeName)'")
            }

        case "dictsort":
            try arguments.check(function: name, maxPositional: 3, keywords: ["case_sensitive", "by", "reverse"])
            guard case .dictionary(let dictionary) = value else {
                throw ChatTemplateError(.invalidOperation, "dictsort filter needs a dict, not '\(value.typeName)'")
            }
            let caseSensitive = arguments.value(0, "case_sensitive")?.isTruthy ?? false
            let byValue = arguments.value(1, "by")?.text == "value"
            let pairs = dictionary.entries.map { TemplateValue.list([$0.key, $0.value]) }
            return .list(try Self.sorted(pairs, reverse: arguments.value(2, "reverse")?.isTruthy ?? false) {
                pair throws(ChatTemplateError) in
                guard case .list(let elements) = pair else { return pair }
                return Self.sortKey(byValue ? elements[1] : elements[0], caseSensitive: caseSensitive)
            })

        case "sort":
            try arguments.check(function: name, maxPositional: 3, keywords: ["reverse", "case_sensitive", "attribute"])
            let caseSensitive = arguments.value(1, "case_sensitive")?.isTruthy ?? false
            let attributeName = arguments.value(2, "attribute")
            return .list(try Self.sorted(try iterate(value), reverse: arguments.value(0, "reverse")?.isTruthy ?? false) {
                item throws(ChatTemplateError) in
                let key = try attributeName.map { name throws(ChatTemplateError) in try attributePath(name, of: item) } ?? item
                return Self.sortKey(key, caseSensitive: caseSensitive)
            })

        case "unique":
            try arguments.check(function: name, maxPositional: 2, keywords: ["case_sensitive", "attribute"])
            let caseSensitive = arguments.value(0, "case_sensitive")?.isTruthy ?? false
            let attributeName = arguments.value(1, "attribute")
            var seen: [TemplateValue] = []
            var result: [TemplateValue] = []
            for item in try iterate(value) {
                let base = try attributeName.map { name throws(ChatTemplateError) in try attributePath(name, of: item) } ?? item
                let key = Self.sortKey(base, caseSensitive: caseSensitive)
                if !seen.contains(where: { $0.isEqual(to: key) }) {
                    seen.append(key)
                    result.append(item)
                }
            }
            return .list(result)

        case "min", "max":
            try arguments.check(function: name, maxPositional: 2, keywords: ["case_sensitive", "attribute"])
            let caseSensitive = arguments.value(0, "case_sensitive")?.isTruthy ?? false
            let attributeName = arguments.value(1, "attribute")
            let sortedItems = try Self.sorted(try iterate(value), reverse: name == "max") {
                item throws(ChatTemplateError) in
                let key = try attributeName.map { name throws(ChatTemplateError) in try attributePath(name, of: item) } ?? item
                return Self.sortKey(key, caseSensitive: caseSensitive)
            }
            return sortedItems.first ?? .undefined("\(name) of an empty sequence")

        case "sum":
            try arguments.check(function: name, maxPositional: 2, keywords: ["attribute", "start"])
            var total = arguments.value(1, "start") ?? .integer(0)
            let attributeName = arguments.value(0, "attribute")
            for item in try iterate(value) {
                let term = try attributeName.map { name throws(ChatTemplateError) in try attributePath(name, of: item) } ?? item
                total = try Self.apply(.add, total, term)
            }
            return total

        case "abs":
            switch value {
            case .integer(let number):
                guard number != Int.min else { throw Self.overflowError() }
                return .integer(abs(number))
            case .float(let number):
                return .float(abs(number))
            case .boolean(let flag):
                return .integer(flag ? 1 : 0)
            default:
                throw try Self.operandError("abs()", value)
            }

        case "round":
            try arguments.check(function: name, maxPositional: 2, keywords: ["precision", "method"])
            guard let number = value.number else { throw try Self.operandError("round", value) }
            let precision = arguments.value(0, "precision")?.integer ?? 0
            let method = arguments.value(1, "method")?.text ?? "common"
            return .float(try Self.round(number, precision: precision, method: method))

        case "int":
            try arguments.check(function: name, maxPositional: 2, keywords: ["default", "base"])
            let fallback = arguments.value(0, "default") ?? .integer(0)
            switch value {
            case .integer, .boolean:
                return .integer(value.integer!)
            case .float(let number):
                guard number.isFinite, let truncated = Int(exactly: number.rounded(.towardZero)) else { return fallback }
                return .integer(truncated)
            case .string(let text):
                let trimmed = Self.strip(text, characters: nil, leading: true, trailing: true)
                if let parsed = Int(trimmed) {
                    return .integer(parsed)
                }
                if let parsed = Double(trimmed), parsed.isFinite, let truncated = Int(exactly: parsed.rounded(.towardZero)) {
                    return .integer(truncated)
                }
                return fallback
            default:
                return fallback
            }

        case "float":
            try arguments.check(function: name, maxPositional: 1, keywords: ["default"])
            let fallback = arguments.value(0, "default") ?? .float(0)
            switch value {
            case .integer, .boolean, .float:
                return .float(value.number!)
            case .string(let text):
                return Double(Self.strip(text, characters: nil, leading: true, trailing: true)).map { .float($0) } ?? fallback
            default:
                return fallback
            }

        case "replace":
            try arguments.check(function: name, maxPositional: 3, keywords: ["old", "new", "count"])
            guard let old = arguments.value(0, "old"), let new = arguments.value(1, "new") else {
                throw ChatTemplateError(.invalidOperation, "replace filter needs the old and new strings")
            }
            return .string(try Self.replace(value.text, old.text, new.text, count: arguments.value(2, "count")?.integer))

        case "indent":
            try arguments.check(function: name, maxPositional: 3, keywords: ["width", "first", "blank"])
            let widthValue = arguments.value(0, "width") ?? .integer(4)
            if let width = widthValue.integer, width > 1_000 {
                throw ChatTemplateError(.limitExceeded, "indent width \(width) is larger than 1000")
            }
            let prefix = widthValue.integer.map { String(repeating: " ", count: max(0, $0)) } ?? widthValue.text
            let text = value.text
            let lineCount = text.utf8.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            let (added, overflow) = prefix.utf8.count.multipliedReportingOverflow(by: lineCount)
            guard !overflow else { throw ChatTemplateError(.limitExceeded, "indent() result is too large") }
            try Self.checkStringSize(text.utf8.count + added)
            return .string(Self.indent(
                text, prefix: prefix,
                first: arguments.value(1, "first")?.isTruthy ?? false,
                blank: arguments.value(2, "blank")?.isTruthy ?? false))

        case "map":
            return .list(try mapItems(try iterate(value), arguments))

        case "select", "reject":
            let keep = name == "select"
            var result: [TemplateValue] = []
            for item in try iterate(value) {
                if try passes(item, arguments, testArgumentOffset: 0) == keep {
                    result.append(item)
                }
            }
            return .list(result)

        case "selectattr", "rejectattr":
            let keep = name == "selectattr"
            guard let attributeName = arguments.positional.first else {
                throw ChatTemplateError(.invalidOperation, "\(name) needs an attribute name")
            }
            var result: [TemplateValue] = []
            for item in try iterate(value) {
                let attributeValue = try attributePath(attributeName, of: item)
                if try passes(attributeValue, arguments, testArgumentOffset: 1) == keep {
                    result.append(item)
                }
            }
            return .list(result)

        default:
            throw ChatTemplateError(.undefined, "unknown filter '\(name)'")
        }
    }

    /// Applies `map(attribute='name')` or `map('filter', arguments…)` to every item.
    private func mapItems(_ items: [TemplateValue], _ arguments: TemplateArguments) throws(ChatTemplateError) -> [TemplateValue] {
        if let attributeName = arguments.keyword.first(where: { $0.name == "attribute" })?.value {
            let fallback = arguments.keyword.first { $0.name == "default" }?.value
            return try items.map { item throws(ChatTemplateError) in
                let value = try attributePath(attributeName, of: item)
                if value.isUndefined, let fallback {
                    return fallback
                }
                return value
            }
        }
        guard case .string(let filterName)? = arguments.positional.first else {
            throw ChatTemplateError(.invalidOperation, "map needs a filter name or attribute=")
        }
        var filterArguments = arguments
        filterArguments.positional.removeFirst()
        return try items.map { item throws(ChatTemplateError) in try applyFilter(filterName, to: item, filterArguments) }
    }

    /// Runs the test named at `arguments.positional[testArgumentOffset]` on `value`; no test name means truthiness.
    private func passes(_ value: TemplateValue, _ arguments: TemplateArguments, testArgumentOffset: Int) throws(ChatTemplateError) -> Bool {
        guard arguments.positional.count > testArgumentOffset else {
            return value.isTruthy
        }
        let testName = arguments.positional[testArgumentOffset].text
        guard Self.testNames.contains(testName) else {
            throw ChatTemplateError(.undefined, "unknown test '\(testName)'")
        }
        let testArguments = TemplateArguments(
            positional: Array(arguments.positional.dropFirst(testArgumentOffset + 1)), keyword: [])
        return try applyTest(testName, to: value, testArguments)
    }

    /// Looks up a dotted attribute path such as `"function.name"`; integer parts index lists.
    func attributePath(_ path: TemplateValue, of value: TemplateValue) throws(ChatTemplateError) -> TemplateValue {
        if let position = path.integer {
            return try item(.integer(position), of: value, description: "item \(position)")
        }
        var current = value
        for part in path.text.split(separator: ".", omittingEmptySubsequences: false) {
            let name = String(part)
            if let position = Int(name) {
                current = try item(.integer(position), of: current, description: name)
            } else {
                current = try item(.string(name), of: current, description: name)
            }
        }
        return current
    }

    // MARK: - Tests

    func applyTest(_ name: String, to value: TemplateValue, _ arguments: TemplateArguments) throws(ChatTemplateError) -> Bool {
        func argument() throws(ChatTemplateError) -> TemplateValue {
            guard let first = arguments.positional.first ?? arguments.keyword.first?.value else {
                throw ChatTemplateError(.invalidOperation, "test '\(name)' needs an argument")
            }
            return first
        }

        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none":
            if case .none = value { return true }
            return false
        case "boolean":
            if case .boolean = value { return true }
            return false
        case "true":
            if case .boolean(true) = value { return true }
            return false
        case "false":
            if case .boolean(false) = value { return true }
            return false
        case "integer":
            if case .integer = value { return true }
            return false
        case "float":
            if case .float = value { return true }
            return false
        case "number":
            return value.number != nil
        case "string":
            if case .string = value { return true }
            return false
        case "mapping":
            if case .dictionary = value { return true }
            return false
        case "iterable":
            switch value {
            case .list, .dictionary, .string, .undefined: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .list, .dictionary, .string: return true
            default: return false
            }
        case "callable":
            switch value {
            case .function, .macro: return true
            default: return false
            }
        case "even", "odd":
            guard let number = value.integer else {
                throw ChatTemplateError(.invalidOperation, "test '\(name)' needs an integer, not '\(value.typeName)'")
            }
            return (number % 2 == 0) == (name == "even")
        case "divisibleby":
            guard let number = value.integer, let divisor = try argument().integer, divisor != 0 else {
                throw ChatTemplateError(.invalidOperation, "test 'divisibleby' needs two integers and a nonzero divisor")
            }
            return number % divisor == 0
        case "eq", "equalto", "==":
            return value.isEqual(to: try argument())
        case "ne", "!=":
            return !value.isEqual(to: try argument())
        case "lt", "lessthan", "<":
            return try Self.compare(.less, value, try argument())
        case "le", "<=":
            return try Self.compare(.lessOrEqual, value, try argument())
        case "gt", "greaterthan", ">":
            return try Self.compare(.greater, value, try argument())
        case "ge", ">=":
            return try Self.compare(.greaterOrEqual, value, try argument())
        case "in":
            return try Self.contains(try argument(), value)
        case "sameas":
            let other = try argument()
            switch (value, other) {
            case (.none, .none): return true
            case (.boolean(let first), .boolean(let second)): return first == second
            case (.namespace(let first), .namespace(let second)): return first === second
            default: return false
            }
        case "lower":
            guard case .string(let text) = value else { return false }
            return text == text.lowercased()
        case "upper":
            guard case .string(let text) = value else { return false }
            return text == text.uppercased()
        default:
            throw ChatTemplateError(.undefined, "unknown test '\(name)'")
        }
    }

    // MARK: - Helpers

    static func length(of value: TemplateValue) throws(ChatTemplateError) -> Int {
        switch value {
        case .undefined: return 0
        case .string(let text): return text.unicodeScalars.count
        case .list(let values): return values.count
        case .dictionary(let dictionary): return dictionary.count
        case .namespace(let namespace): return namespace.attributes.count
        default:
            throw ChatTemplateError(.invalidOperation, "object of type '\(value.typeName)' has no length")
        }
    }

    /// Lowercases strings unless sorting is case-sensitive, as Jinja's sort, unique, min and max do.
    private static func sortKey(_ value: TemplateValue, caseSensitive: Bool) -> TemplateValue {
        if !caseSensitive, case .string(let text) = value {
            return .string(text.lowercased())
        }
        return value
    }

    /// Sorts stably by key; keys that do not compare (a string and a number) fail the render.
    private static func sorted(
        _ items: [TemplateValue],
        reverse: Bool,
        key: (TemplateValue) throws(ChatTemplateError) -> TemplateValue
    ) throws(ChatTemplateError) -> [TemplateValue] {
        var keyed: [(key: TemplateValue, item: TemplateValue, position: Int)] = []
        for (position, item) in items.enumerated() {
            keyed.append((try key(item), item, position))
        }
        var failure: ChatTemplateError?
        keyed.sort { first, second in
            guard let comparison = order(first.key, second.key) else {
                failure = ChatTemplateError(
                    .invalidOperation,
                    "cannot sort '\(first.key.typeName)' and '\(second.key.typeName)' values together")
                return false
            }
            if comparison == 0 {
                return first.position < second.position
            }
            return reverse ? comparison > 0 : comparison < 0
        }
        if let failure {
            throw failure
        }
        return keyed.map(\.item)
    }

    private static func round(_ number: Double, precision: Int, method: String) throws(ChatTemplateError) -> Double {
        let scale = (0..<min(max(precision, 0), 15)).reduce(1.0) { product, _ in product * 10 }
        let scaled = number * scale
        let rounded: Double
        switch method {
        case "common": rounded = scaled.rounded(.toNearestOrAwayFromZero)
        case "ceil": rounded = scaled.rounded(.up)
        case "floor": rounded = scaled.rounded(.down)
        default:
            throw ChatTemplateError(.invalidOperation, "round method must be 'common', 'ceil' or 'floor', not '\(method)'")
        }
        return rounded / scale
    }

    private static func indent(_ text: String, prefix: String, first: Bool, blank: Bool) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for index in lines.indices where index > 0 || first {
            if blank || !lines[index].allSatisfy({ $0.unicodeScalars.allSatisfy(isPythonWhitespace) }) {
                lines[index] = prefix + lines[index]
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func escapeHTML(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&#34;"
            case "'": result += "&#39;"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Jinja's `title` filter: the first letter of each word upper case, the rest lower case,
    /// with words separated by whitespace, hyphens and opening brackets.
    private static func jinjaTitle(_ text: String) -> String {
        var result = ""
        var atWordStart = true
        for character in text {
            if character.isWhitespace || "-([{<".contains(character) {
                result.append(character)
                atWordStart = true
            } else if atWordStart {
                result += String(character).uppercased()
                atWordStart = false
            } else {
                result += String(character).lowercased()
            }
        }
        return result
    }
}
