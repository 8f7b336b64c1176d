/// One token of a template: literal text between tags, a tag delimiter, or a token inside a tag.
struct TemplateToken: Equatable {
    enum Kind: Equatable {
        case text(String)
        /// `{{`
        case variableBegin
        /// `}}`
        case variableEnd
        /// `{%`
        case blockBegin
        /// `%}`
        case blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// An operator or punctuation: `+`, `==`, `(`, `|` and the like.
        case symbol(String)
        case endOfTemplate
    }

    var kind: Kind
    /// The offset in Unicode scalars into the source.
    var offset: Int
}

/// Splits a Jinja template into tokens.
///
/// Whitespace control follows Jinja with the options Hugging Face's chat
/// templates run under: `trim_blocks` removes the first newline after a block
/// tag or comment, and `lstrip_blocks` removes spaces and tabs before a block
/// tag or comment that starts a line. A `-` inside a delimiter (`{%-`, `-%}`,
/// `{{-`, `-}}`, `{#-`, `-#}`) strips all whitespace on that side, and a `+`
/// (`{%+`, `+%}`) turns the two options off for that side.
struct TemplateLexer {
    /// Whitespace to remove from the start of the next text.
    private enum LeadingTrim {
        case none
        case newline
        case all
    }

    private let source: [Unicode.Scalar]
    private let trimBlocks: Bool
    private let lstripBlocks: Bool
    private var position = 0
    private var tokens: [TemplateToken] = []
    private var leadingTrim = LeadingTrim.none

    init(source: [Unicode.Scalar], trimBlocks: Bool = true, lstripBlocks: Bool = true) {
        self.source = source
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
    }

    /// Tokenizes the whole source; the last token is `.endOfTemplate`.
    static func tokenize(_ source: [Unicode.Scalar]) throws(ChatTemplateError) -> [TemplateToken] {
        var lexer = TemplateLexer(source: source)
        try lexer.run()
        return lexer.tokens
    }

    private mutating func run() throws(ChatTemplateError) {
        while position < source.count {
            guard let tagStart = nextTagStart(from: position) else {
                emitText(from: position, to: source.count, tagKind: nil, tagModifier: nil)
                position = source.count
                break
            }

            let kind = source[tagStart + 1]
            let modifier = tagStart + 2 < source.count ? source[tagStart + 2] : nil
            let explicitModifier: Unicode.Scalar? = modifier == "-" || modifier == "+" ? modifier : nil
            emitText(from: position, to: tagStart, tagKind: kind, tagModifier: explicitModifier)
            position = tagStart + 2 + (explicitModifier == nil ? 0 : 1)

            switch kind {
            case "#":
                try skipComment(openedAt: tagStart)
            case "{":
                tokens.append(TemplateToken(kind: .variableBegin, offset: tagStart))
                try lexTagContents(closing: "}", openedAt: tagStart)
            default:
                tokens.append(TemplateToken(kind: .blockBegin, offset: tagStart))
                let firstTokenIndex = tokens.count
                try lexTagContents(closing: "%", openedAt: tagStart)
                if tokens.count == firstTokenIndex + 2, tokens[firstTokenIndex].kind == .name("raw") {
                    tokens.removeLast(3)
                    try lexRawBlock(openedAt: tagStart)
                }
            }
        }
        tokens.append(TemplateToken(kind: .endOfTemplate, offset: source.count))
    }

    /// Returns the index of the next `{{`, `{%` or `{#` at or after `start`.
    private func nextTagStart(from start: Int) -> Int? {
        var index = start
        while index + 1 < source.count {
            if source[index] == "{" {
                let next = source[index + 1]
                if next == "{" || next == "%" || next == "#" {
                    return index
                }
            }
            index += 1
        }
        return nil
    }

    /// Emits `source[start..<end]` as text after whitespace control for the tags around it.
    private mutating func emitText(from start: Int, to end: Int, tagKind: Unicode.Scalar?, tagModifier: Unicode.Scalar?) {
        var textStart = start
        var textEnd = end

        switch leadingTrim {
        case .none:
            break
        case .newline:
            if textStart < textEnd && source[textStart] == "\n" {
                textStart += 1
            } else if textStart + 1 < textEnd && source[textStart] == "\r" && source[textStart + 1] == "\n" {
                textStart += 2
            }
        case .all:
            while textStart < textEnd && source[textStart].properties.isWhitespace {
                textStart += 1
            }
        }
        leadingTrim = .none

        if tagModifier == "-" {
            while textEnd > textStart && source[textEnd - 1].properties.isWhitespace {
                textEnd -= 1
            }
        } else if tagModifier == nil, lstripBlocks, tagKind == "%" || tagKind == "#" {
            // Strip the spaces and tabs before the tag when nothing else precedes it on its line.
            var lineStart = textEnd
            while lineStart > textStart && (source[lineStart - 1] == " " || source[lineStart - 1] == "\t") {
                lineStart -= 1
            }
            let startsLine = lineStart == 0 || source[lineStart - 1] == "\n"
            if startsLine {
                textEnd = lineStart
            }
        }

        if textStart < textEnd {
            let text = String(String.UnicodeScalarView(source[textStart..<textEnd]))
            tokens.append(TemplateToken(kind: .text(text), offset: textStart))
        }
    }

    /// Sets how the text after a tag is trimmed, given the scalar before the tag's closing delimiter.
    private mutating func setLeadingTrim(modifier: Unicode.Scalar?, isBlock: Bool) {
        if modifier == "-" {
            leadingTrim = .all
        } else if modifier == nil && isBlock && trimBlocks {
            leadingTrim = .newline
        } else {
            leadingTrim = .none
        }
    }

    private mutating func skipComment(openedAt start: Int) throws(ChatTemplateError) {
        var index = position
        while index + 1 < source.count {
            if source[index] == "#" && source[index + 1] == "}" {
                let modifier = index > position && (source[index - 1] == "-" || source[index - 1] == "+")
                    ? source[index - 1] : nil
                setLeadingTrim(modifier: modifier, isBlock: true)
                position = index + 2
                return
            }
            index += 1
        }
        throw ChatTemplateError(.syntax, "comment '{#' is never closed with '#}'", at: start)
    }

    /// Lexes the tokens of a `{{ }}` or `{% %}` tag up to and including its closing delimiter.
    ///
    /// A closing delimiter counts only outside brackets, so `{{ {'a': 1} }}` parses.
    private mutating func lexTagContents(closing: Unicode.Scalar, openedAt start: Int) throws(ChatTemplateError) {
        var bracketDepth = 0
        let isBlock = closing == "%"

        while true {
            skipWhitespace()
            guard position < source.count else {
                let delimiter = isBlock ? "%}" : "}}"
                throw ChatTemplateError(.syntax, "tag is never closed with '\(delimiter)'", at: start)
            }

            if bracketDepth == 0 {
                let scalar = source[position]
                if (scalar == "-" || scalar == "+") && matches(closing, "}", at: position + 1) {
                    guard scalar == "-" || isBlock else {
                        throw ChatTemplateError(.syntax, "'+' is allowed only before '%}'", at: position)
                    }
                    setLeadingTrim(modifier: scalar, isBlock: isBlock)
                    tokens.append(TemplateToken(kind: isBlock ? .blockEnd : .variableEnd, offset: position))
                    position += 3
                    return
                }
                if matches(closing, "}", at: position) {
                    setLeadingTrim(modifier: nil, isBlock: isBlock)
                    tokens.append(TemplateToken(kind: isBlock ? .blockEnd : .variableEnd, offset: position))
                    position += 2
                    return
                }
            }

            let token = try lexExpressionToken()
            if case .symbol(let symbol) = token.kind {
                switch symbol {
                case "(", "[", "{":
                    bracketDepth += 1
                case ")", "]", "}":
                    bracketDepth = max(0, bracketDepth - 1)
                default:
                    break
                }
            }
            tokens.append(token)
        }
    }

    /// Emits the text up to `{% endraw %}` unchanged and consumes that tag.
    private mutating func lexRawBlock(openedAt start: Int) throws(ChatTemplateError) {
        var index = position
        while let tagStart = nextTagStart(from: index) {
            if source[tagStart + 1] == "%", let (end, startModifier, endModifier) = endRawTag(at: tagStart) {
                emitText(from: position, to: tagStart, tagKind: "%", tagModifier: startModifier)
                setLeadingTrim(modifier: endModifier, isBlock: true)
                position = end
                return
            }
            index = tagStart + 2
        }
        throw ChatTemplateError(.syntax, "'{% raw %}' is never closed with '{% endraw %}'", at: start)
    }

    /// Matches `{%[-+]? endraw [-+]?%}` at `start`; returns the end offset and the two modifiers.
    private func endRawTag(at start: Int) -> (Int, Unicode.Scalar?, Unicode.Scalar?)? {
        var index = start + 2
        var startModifier: Unicode.Scalar?
        if index < source.count && (source[index] == "-" || source[index] == "+") {
            startModifier = source[index]
            index += 1
        }
        while index < source.count && source[index].properties.isWhitespace {
            index += 1
        }
        for scalar in "endraw".unicodeScalars {
            guard index < source.count, source[index] == scalar else { return nil }
            index += 1
        }
        while index < source.count && source[index].properties.isWhitespace {
            index += 1
        }
        var endModifier: Unicode.Scalar?
        if index < source.count && (source[index] == "-" || source[index] == "+") {
            endModifier = source[index]
            index += 1
        }
        guard matches("%", "}", at: index) else { return nil }
        return (index + 2, startModifier, endModifier)
    }

    private func matches(_ first: Unicode.Scalar, _ second: Unicode.Scalar, at index: Int) -> Bool {
        index + 1 < source.count && source[index] == first && source[index + 1] == second
    }

    private mutating func skipWhitespace() {
        while position < source.count && source[position].properties.isWhitespace {
            position += 1
        }
    }

    private static let symbols: [String] = [
        "**", "//", "==", "!=", "<=", ">=",
        "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|",
    ].sorted { $0.unicodeScalars.count > $1.unicodeScalars.count }

    private mutating func lexExpressionToken() throws(ChatTemplateError) -> TemplateToken {
        let start = position
        let scalar = source[position]

        if scalar == "_" || scalar.properties.isAlphabetic && scalar.isASCII {
            while position < source.count && Self.isNameContinuation(source[position]) {
                position += 1
            }
            let name = String(String.UnicodeScalarView(source[start..<position]))
            return TemplateToken(kind: .name(name), offset: start)
        }
        if ("0"..."9").contains(scalar) {
            return try lexNumber()
        }
        if scalar == "'" || scalar == "\"" {
            return try lexString()
        }
        for symbol in Self.symbols where matches(symbol, at: position) {
            position += symbol.unicodeScalars.count
            return TemplateToken(kind: .symbol(symbol), offset: start)
        }
        throw ChatTemplateError(.syntax, "unexpected character '\(scalar.escaped(asASCII: false))' in tag", at: start)
    }

    private func matches(_ text: String, at index: Int) -> Bool {
        var current = index
        for scalar in text.unicodeScalars {
            guard current < source.count, source[current] == scalar else { return false }
            current += 1
        }
        return true
    }

    private static func isNameContinuation(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
    }

    private mutating func lexNumber() throws(ChatTemplateError) -> TemplateToken {
        let start = position
        var text = ""
        var isFloat = false

        func appendDigits(_ lexer: inout TemplateLexer, into text: inout String) {
            while lexer.position < lexer.source.count {
                let scalar = lexer.source[lexer.position]
                if ("0"..."9").contains(scalar) {
                    text.unicodeScalars.append(scalar)
                } else if scalar != "_" {
                    break
                }
                lexer.position += 1
            }
        }

        appendDigits(&self, into: &text)
        if position + 1 < source.count && source[position] == "." && ("0"..."9").contains(source[position + 1]) {
            isFloat = true
            text.append(".")
            position += 1
            appendDigits(&self, into: &text)
        }
        if position < source.count && (source[position] == "e" || source[position] == "E") {
            var exponentEnd = position + 1
            if exponentEnd < source.count && (source[exponentEnd] == "+" || source[exponentEnd] == "-") {
                exponentEnd += 1
            }
            if exponentEnd < source.count && ("0"..."9").contains(source[exponentEnd]) {
                isFloat = true
                text.append("e")
                text.unicodeScalars.append(contentsOf: source[(position + 1)..<exponentEnd])
                position = exponentEnd
                appendDigits(&self, into: &text)
            }
        }

        if isFloat {
            guard let value = Double(text) else {
                throw ChatTemplateError(.syntax, "invalid number '\(text)'", at: start)
            }
            return TemplateToken(kind: .float(value), offset: start)
        }
        guard let value = Int(text) else {
            throw ChatTemplateError(.syntax, "integer literal \(text) does not fit in 64 bits", at: start)
        }
        return TemplateToken(kind: .integer(value), offset: start)
    }

    /// Lexes a quoted string with Python's backslash escapes.
    private mutating func lexString() throws(ChatTemplateError) -> TemplateToken {
        let start = position
        let quote = source[position]
        position += 1
        var value = String.UnicodeScalarView()

        while position < source.count {
            let scalar = source[position]
            if scalar == quote {
                position += 1
                return TemplateToken(kind: .string(String(value)), offset: start)
            }
            if scalar == "\\" && position + 1 < source.count {
                let escaped = source[position + 1]
                position += 2
                switch escaped {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "0": value.append("\0")
                case "b": value.append("\u{8}")
                case "f": value.append("\u{C}")
                case "v": value.append("\u{B}")
                case "a": value.append("\u{7}")
                case "\\", "'", "\"": value.append(escaped)
                case "\n": break
                case "x", "u", "U":
                    let digitCounts: [Unicode.Scalar: Int] = ["x": 2, "u": 4, "U": 8]
                    value.append(try lexHexEscape(digits: digitCounts[escaped]!, escapeStart: position - 2))
                default:
                    // Python keeps an unknown escape as it is, backslash included.
                    value.append("\\")
                    value.append(escaped)
                }
                continue
            }
            value.append(scalar)
            position += 1
        }
        throw ChatTemplateError(.syntax, "string literal is never closed", at: start)
    }

    private mutating func lexHexEscape(digits: Int, escapeStart: Int) throws(ChatTemplateError) -> Unicode.Scalar {
        guard position + digits <= source.count else {
            throw ChatTemplateError(.syntax, "truncated escape sequence in string literal", at: escapeStart)
        }
        let hex = String(String.UnicodeScalarView(source[position..<(position + digits)]))
        guard let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) else {
            throw ChatTemplateError(.syntax, "invalid escape sequence '\\\(hex)' in string literal", at: escapeStart)
        }
        position += digits
        return scalar
    }
}
