import SluiceCore

/// A model's chat template: a Jinja template that turns a conversation into the prompt text.
///
/// The interpreter implements the part of Jinja that chat templates use. That
/// is output tags, `if`/`elif`/`else`, `for` loops with `loop` and `else`,
/// `set` with `namespace()` objects, macros, `break` and `continue`,
/// whitespace control, comments and `raw`. Expressions have literals,
/// operators, filters, tests and the Python string and dictionary methods that
/// templates call. It runs with the options Hugging Face renders chat
/// templates with: `trim_blocks` and `lstrip_blocks` on, and undefined values
/// printing as empty text.
///
/// Parsing happens once, in `init`. The template is immutable and safe to
/// share between threads; each `render` call has its own state.
public struct ChatTemplate: Sendable {
    /// The template text.
    public let source: String
    private let nodes: [TemplateNode]

    /// Parses a template.
    ///
    /// - Throws: `ChatTemplateError` of kind `.syntax`, with the line and column,
    ///   when the template is not valid or uses an unknown tag, filter or test.
    public init(source: String) throws(ChatTemplateError) {
        self.source = source
        let scalars = Array(source.unicodeScalars)
        do {
            let tokens = try TemplateLexer.tokenize(scalars)
            let nodes = try TemplateParser.parse(tokens)
            try TemplateChecker.check(nodes)
            self.nodes = nodes
        } catch {
            throw error.resolvingPosition(in: scalars)
        }
    }

    /// Reads the template a GGUF file declares under `tokenizer.chat_template`.
    ///
    /// - Returns: nil when the file has no chat template.
    /// - Throws: `ChatTemplateError` when the template does not parse.
    public init?(gguf file: GGUFFile) throws(ChatTemplateError) {
        guard let source = file.metadata["tokenizer.chat_template"]?.string else {
            return nil
        }
        try self.init(source: source)
    }

    /// Renders a conversation into prompt text.
    ///
    /// The template sees `messages` (a list of dictionaries with `role` and
    /// `content`), `add_generation_prompt`, `bos_token` and `eos_token`.
    ///
    /// - Parameters:
    ///   - messages: The conversation, oldest message first.
    ///   - addGenerationPrompt: Whether to end with the header of an assistant
    ///     turn, so that the model's continuation is the assistant's reply.
    ///   - bosToken: The text of the model's beginning-of-sequence token.
    ///   - eosToken: The text of the model's end-of-sequence token.
    /// - Returns: The prompt text, with special tokens spelled out for the tokenizer to parse.
    /// - Throws: `ChatTemplateError` when rendering fails: the template calls
    ///   `raise_exception`, uses an undefined function or a value of the wrong
    ///   type, or exceeds a limit. The error carries the line and column.
    public func render(
        messages: [ChatMessage],
        addGenerationPrompt: Bool,
        bosToken: String,
        eosToken: String
    ) throws(ChatTemplateError) -> String {
        let messageValues = messages.map { message in
            TemplateValue.dictionary(TemplateDictionary([
                ("role", .string(message.role)),
                ("content", .string(message.content)),
            ]))
        }
        return try render(variables: [
            "messages": .list(messageValues),
            "add_generation_prompt": .boolean(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ])
    }

    /// Renders the template with the given top-level variables.
    func render(variables: [String: TemplateValue]) throws(ChatTemplateError) -> String {
        let renderer = TemplateRenderer(globals: variables)
        do {
            return try renderer.render(nodes)
        } catch {
            throw error.resolvingPosition(in: Array(source.unicodeScalars))
        }
    }
}

/// Rejects unknown filters and tests when the template is parsed, as Jinja
/// does, so that a broken template fails when the model loads and not at its first request.
enum TemplateChecker {
    static func check(_ nodes: [TemplateNode]) throws(ChatTemplateError) {
        for node in nodes {
            try check(node)
        }
    }

    private static func check(_ node: TemplateNode) throws(ChatTemplateError) {
        switch node {
        case .text, .breakLoop, .continueLoop:
            break
        case .output(let expression):
            try check(expression)
        case .conditional(let branches, let otherwise):
            for branch in branches {
                try check(branch.condition)
                try check(branch.body)
            }
            try check(otherwise ?? [])
        case .loop(let loop):
            try check(loop.iterable)
            if let filter = loop.filter {
                try check(filter)
            }
            try check(loop.body)
            try check(loop.otherwise ?? [])
        case .assignment(_, let expression):
            try check(expression)
        case .blockAssignment(_, let body, _), .group(let body):
            try check(body)
        case .macroDefinition(let macro):
            for parameter in macro.parameters {
                if let defaultValue = parameter.defaultValue {
                    try check(defaultValue)
                }
            }
            try check(macro.body)
        }
    }

    private static func check(_ expression: TemplateExpression) throws(ChatTemplateError) {
        switch expression.kind {
        case .literal, .variable:
            break
        case .list(let elements):
            for element in elements {
                try check(element)
            }
        case .dictionary(let entries):
            for entry in entries {
                try check(entry.key)
                try check(entry.value)
            }
        case .attribute(let object, _):
            try check(object)
        case .subscriptAccess(let object, let index):
            try check(object)
            try check(index)
        case .slice(let object, let start, let stop, let step):
            try check(object)
            for part in [start, stop, step] {
                if let part {
                    try check(part)
                }
            }
        case .call(let callee, let arguments):
            try check(callee)
            try check(arguments)
        case .filter(let value, let name, let arguments):
            guard TemplateRenderer.filterNames.contains(name) else {
                throw ChatTemplateError(.syntax, "unknown filter '\(name)'", at: expression.offset)
            }
            try check(value)
            try check(arguments)
        case .test(let value, let name, let arguments, _):
            guard TemplateRenderer.testNames.contains(name) else {
                throw ChatTemplateError(.syntax, "unknown test '\(name)'", at: expression.offset)
            }
            try check(value)
            try check(arguments)
        case .negate(let operand), .plus(let operand), .not(let operand):
            try check(operand)
        case .and(let left, let right), .or(let left, let right), .binary(_, let left, let right):
            try check(left)
            try check(right)
        case .comparison(let first, let operations):
            try check(first)
            for (_, operand) in operations {
                try check(operand)
            }
        case .conditional(let value, let condition, let alternative):
            try check(value)
            try check(condition)
            if let alternative {
                try check(alternative)
            }
        }
    }

    private static func check(_ arguments: TemplateCallArguments) throws(ChatTemplateError) {
        for argument in arguments.positional {
            try check(argument)
        }
        for (_, argument) in arguments.keyword {
            try check(argument)
        }
    }
}
