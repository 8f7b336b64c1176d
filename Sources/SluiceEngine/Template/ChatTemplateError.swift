/// An error from parsing or rendering a chat template.
public struct ChatTemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of failure.
    public enum Kind: Sendable, Equatable {
        /// The template is not valid Jinja, or uses a construct this interpreter does not implement.
        case syntax
        /// A variable, function, filter, test or attribute is used but not defined.
        case undefined
        /// An operation got values of the wrong type or an invalid value, such as a division by zero.
        case invalidOperation
        /// The template called `raise_exception(message)`.
        case raised
        /// Rendering ran past a safety limit: output size, loop iterations or macro recursion.
        case limitExceeded
    }

    public var kind: Kind
    /// The description of the failure, without the position.
    public var message: String
    /// The 1-based line of the template where the error is, when known.
    public var line: Int?
    /// The 1-based column (in Unicode scalars) of the template where the error is, when known.
    public var column: Int?

    /// The offset in Unicode scalars into the template source; resolved to `line` and `column` before the error leaves the template API.
    var offset: Int?

    init(_ kind: Kind, _ message: String, at offset: Int? = nil) {
        self.kind = kind
        self.message = message
        self.offset = offset
    }

    public var description: String {
        let prefix: String
        switch kind {
        case .syntax: prefix = "chat template syntax error"
        case .undefined: prefix = "chat template error"
        case .invalidOperation: prefix = "chat template error"
        case .raised: prefix = "chat template raised an exception"
        case .limitExceeded: prefix = "chat template exceeded a limit"
        }
        if let line, let column {
            return "\(prefix) at line \(line), column \(column): \(message)"
        }
        return "\(prefix): \(message)"
    }

    /// Returns the error with the offset set, unless it already has one.
    func located(at offset: Int) -> ChatTemplateError {
        guard self.offset == nil else { return self }
        var copy = self
        copy.offset = offset
        return copy
    }

    /// Returns the error with `line` and `column` computed from its offset into `source`.
    func resolvingPosition(in source: [Unicode.Scalar]) -> ChatTemplateError {
        guard let offset, line == nil else { return self }
        var line = 1
        var column = 1
        for scalar in source.prefix(offset) {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        var copy = self
        copy.line = line
        copy.column = column
        return copy
    }

    public static func == (lhs: ChatTemplateError, rhs: ChatTemplateError) -> Bool {
        lhs.kind == rhs.kind && lhs.message == rhs.message && lhs.line == rhs.line && lhs.column == rhs.column
    }
}
