/// A constant written in the template.
enum TemplateLiteral: Sendable, Equatable {
    case none
    case boolean(Bool)
    case integer(Int)
    case float(Double)
    case string(String)
}

/// A Jinja expression with the source offset that errors point to.
struct TemplateExpression: Sendable {
    indirect enum Kind: Sendable {
        case literal(TemplateLiteral)
        case variable(String)
        /// A list literal; tuples evaluate to lists as well.
        case list([TemplateExpression])
        case dictionary([(key: TemplateExpression, value: TemplateExpression)])
        /// `object.name`
        case attribute(TemplateExpression, String)
        /// `object[index]`
        case subscriptAccess(TemplateExpression, TemplateExpression)
        /// `object[start:stop:step]`
        case slice(TemplateExpression, start: TemplateExpression?, stop: TemplateExpression?, step: TemplateExpression?)
        case call(TemplateExpression, TemplateCallArguments)
        /// `value | name(arguments)`
        case filter(TemplateExpression, name: String, TemplateCallArguments)
        /// `value is [not] name(arguments)`
        case test(TemplateExpression, name: String, TemplateCallArguments, negated: Bool)
        case negate(TemplateExpression)
        case plus(TemplateExpression)
        case not(TemplateExpression)
        case and(TemplateExpression, TemplateExpression)
        case or(TemplateExpression, TemplateExpression)
        case binary(TemplateBinaryOperator, TemplateExpression, TemplateExpression)
        /// A chain such as `a < b <= c`, true when every comparison is.
        case comparison(TemplateExpression, [(TemplateComparisonOperator, TemplateExpression)])
        /// `value if condition else alternative`; no `else` yields an undefined value.
        case conditional(value: TemplateExpression, condition: TemplateExpression, alternative: TemplateExpression?)
    }

    var kind: Kind
    var offset: Int
}

/// The arguments of a call, filter or test.
struct TemplateCallArguments: Sendable {
    var positional: [TemplateExpression] = []
    var keyword: [(name: String, value: TemplateExpression)] = []
}

enum TemplateBinaryOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case floorDivide = "//"
    case modulo = "%"
    case power = "**"
    /// `~`: both sides converted to strings and joined.
    case concatenate = "~"
}

enum TemplateComparisonOperator: String, Sendable {
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case contains = "in"
    case notContains = "not in"
}

/// A statement of a parsed template.
indirect enum TemplateNode: Sendable {
    case text(String)
    /// `{{ expression }}`
    case output(TemplateExpression)
    /// `{% if %}` with its `elif` branches, then the optional `else` body.
    case conditional(branches: [(condition: TemplateExpression, body: [TemplateNode])], otherwise: [TemplateNode]?)
    case loop(TemplateLoop)
    /// `{% set target = value %}`
    case assignment(TemplateAssignmentTarget, TemplateExpression)
    /// `{% set name %}body{% endset %}`
    case blockAssignment(TemplateAssignmentTarget, body: [TemplateNode], offset: Int)
    case macroDefinition(TemplateMacro)
    /// Statements rendered in place, such as the body of `{% generation %}`.
    case group([TemplateNode])
    case breakLoop(offset: Int)
    case continueLoop(offset: Int)
}

/// `{% for targets in iterable if filter %}body{% else %}otherwise{% endfor %}`
struct TemplateLoop: Sendable {
    var targets: [String]
    var iterable: TemplateExpression
    var filter: TemplateExpression?
    var body: [TemplateNode]
    var otherwise: [TemplateNode]?
    var offset: Int
}

/// The target of a `{% set %}` assignment.
enum TemplateAssignmentTarget: Sendable {
    case variable(String)
    /// `a, b = …`: unpacks a sequence.
    case variables([String])
    /// `namespace.attribute = …`
    case attribute(object: String, attribute: String)
}

/// `{% macro name(parameters) %}body{% endmacro %}`
struct TemplateMacro: Sendable {
    var name: String
    var parameters: [(name: String, defaultValue: TemplateExpression?)]
    var body: [TemplateNode]
}
