/// A value during rendering, with Python's semantics as Jinja gives them.
///
/// Lists stand for Python lists and tuples alike. Values live only inside one
/// `render` call, so they need not be `Sendable`.
enum TemplateValue {
    /// A name or attribute that does not exist: it renders as nothing, is false,
    /// and iterates as empty, but any other use is an error naming it.
    case undefined(String)
    case none
    case boolean(Bool)
    case integer(Int)
    case float(Double)
    case string(String)
    case list([TemplateValue])
    case dictionary(TemplateDictionary)
    case namespace(TemplateNamespace)
    case function(TemplateFunction)
    case macro(TemplateMacro)

    init(_ literal: TemplateLiteral) {
        switch literal {
        case .none: self = .none
        case .boolean(let value): self = .boolean(value)
        case .integer(let value): self = .integer(value)
        case .float(let value): self = .float(value)
        case .string(let value): self = .string(value)
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python's truth value.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .boolean(let value): return value
        case .integer(let value): return value != 0
        case .float(let value): return value != 0
        case .string(let value): return !value.isEmpty
        case .list(let values): return !values.isEmpty
        case .dictionary(let dictionary): return !dictionary.isEmpty
        case .namespace, .function, .macro: return true
        }
    }

    /// Python's type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "NoneType"
        case .boolean: return "bool"
        case .integer: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .dictionary: return "dict"
        case .namespace: return "Namespace"
        case .function, .macro: return "function"
        }
    }

    /// The value as a number, with booleans as 0 and 1 as in Python; nil for other types.
    var number: Double? {
        switch self {
        case .boolean(let value): return value ? 1 : 0
        case .integer(let value): return Double(value)
        case .float(let value): return value
        default: return nil
        }
    }

    /// The value as an integer, with booleans as 0 and 1; nil for other types, floats included.
    var integer: Int? {
        switch self {
        case .boolean(let value): return value ? 1 : 0
        case .integer(let value): return value
        default: return nil
        }
    }

    /// Python's `str()`: what `{{ value }}` prints. Undefined prints as nothing.
    var text: String {
        switch self {
        case .undefined: return ""
        case .string(let value): return value
        default: return representation
        }
    }

    /// Python's `repr()`, used for values inside lists and dictionaries.
    var representation: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .boolean(let value): return value ? "True" : "False"
        case .integer(let value): return String(value)
        case .float(let value): return Self.pythonFloatText(value)
        case .string(let value): return Self.pythonStringLiteral(value)
        case .list(let values): return "[" + values.map(\.representation).joined(separator: ", ") + "]"
        case .dictionary(let dictionary):
            let entries = dictionary.entries.map { "\($0.key.representation): \($0.value.representation)" }
            return "{" + entries.joined(separator: ", ") + "}"
        case .namespace(let namespace):
            let entries = namespace.attributes.entries.map { "\($0.key.text)=\($0.value.representation)" }
            return "<Namespace " + entries.joined(separator: ", ") + ">"
        case .function(let function): return "<function \(function.name)>"
        case .macro(let macro): return "<macro \(macro.name)>"
        }
    }

    /// Formats a float as Python's `repr` does for the common cases: `1.0`, `0.5`, `1e-05`, `inf`, `nan`.
    static func pythonFloatText(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        // Swift prints the shortest digits that round-trip, as Python does, but
        // switches to exponent notation at other magnitudes.
        // NOTE: values from 2^53 up to 1e16 print in exponent form here and in plain form in Python.
        return value.description
    }

    /// Quotes a string as Python's `repr` does: single quotes unless the string
    /// contains a single quote and no double quote.
    static func pythonStringLiteral(_ value: String) -> String {
        let quote: Character = value.contains("'") && !value.contains("\"") ? "\"" : "'"
        var result = String(quote)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if Character(scalar) == quote {
                    result += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += "\\x" + String(repeating: "0", count: scalar.value < 0x10 ? 1 : 0)
                        + String(scalar.value, radix: 16)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        result.append(quote)
        return result
    }

    /// Python's `==`: numbers compare by value across int, float and bool; containers compare element-wise.
    func isEqual(to other: TemplateValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none):
            return true
        case (.string(let left), .string(let right)):
            // Python compares code points, not canonical equivalents as Swift's
            // `==` does. Equal UTF-8 bytes mean equal code points.
            return left.utf8.elementsEqual(right.utf8)
        case (.list(let left), .list(let right)):
            return left.count == right.count && zip(left, right).allSatisfy { $0.isEqual(to: $1) }
        case (.dictionary(let left), .dictionary(let right)):
            guard left.count == right.count else { return false }
            return left.entries.allSatisfy { entry in
                right[entry.key].map { $0.isEqual(to: entry.value) } ?? false
            }
        case (.namespace(let left), .namespace(let right)):
            return left === right
        default:
            if let left = integer, let right = other.integer {
                return left == right
            }
            if let left = number, let right = other.number {
                return left == right
            }
            return false
        }
    }
}

/// A dictionary that keeps insertion order, as Python's does.
///
/// Lookups compare keys one by one: template dictionaries hold a handful of
/// entries (a message's role and content), where a scan beats hashing.
struct TemplateDictionary {
    private(set) var keys: [TemplateValue] = []
    private(set) var values: [TemplateValue] = []

    init() {}

    init(_ pairs: [(String, TemplateValue)]) {
        for (key, value) in pairs {
            self[.string(key)] = value
        }
    }

    /// Creates a dictionary from keys known to be distinct, without checking them.
    init(distinctKeys keys: [TemplateValue], values: [TemplateValue]) {
        precondition(keys.count == values.count)
        self.keys = keys
        self.values = values
    }

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }

    /// The entries in insertion order.
    var entries: [(key: TemplateValue, value: TemplateValue)] {
        zip(keys, values).map { ($0, $1) }
    }

    subscript(key: TemplateValue) -> TemplateValue? {
        get {
            keys.firstIndex { $0.isEqual(to: key) }.map { values[$0] }
        }
        set {
            let position = keys.firstIndex { $0.isEqual(to: key) }
            switch (position, newValue) {
            case (let position?, let value?):
                values[position] = value
            case (let position?, nil):
                keys.remove(at: position)
                values.remove(at: position)
            case (nil, let value?):
                keys.append(key)
                values.append(value)
            case (nil, nil):
                break
            }
        }
    }

    subscript(key: String) -> TemplateValue? {
        self[.string(key)]
    }
}

/// The object `namespace()` returns: the one value whose attributes `{% set ns.x = … %}` may change,
/// which is how a template carries state out of a loop body.
final class TemplateNamespace {
    var attributes: TemplateDictionary

    init(attributes: TemplateDictionary) {
        self.attributes = attributes
    }
}

/// A built-in function, or a method bound to its receiver.
struct TemplateFunction {
    var name: String
    var body: (TemplateArguments) throws(ChatTemplateError) -> TemplateValue
}

/// Evaluated call arguments.
struct TemplateArguments {
    var positional: [TemplateValue] = []
    var keyword: [(name: String, value: TemplateValue)] = []

    /// Returns the argument at `position`, or the keyword argument `name`, or nil when neither is given.
    func value(_ position: Int, _ name: String) -> TemplateValue? {
        if position < positional.count {
            return positional[position]
        }
        return keyword.first { $0.name == name }?.value
    }

    /// Rejects calls with more positional arguments than `count` or keywords not in `names`.
    func check(function: String, maxPositional count: Int, keywords names: [String] = []) throws(ChatTemplateError) {
        guard positional.count <= count else {
            throw ChatTemplateError(
                .invalidOperation, "\(function)() takes at most \(count) positional arguments, got \(positional.count)")
        }
        if let unknown = keyword.first(where: { !names.contains($0.name) }) {
            throw ChatTemplateError(.invalidOperation, "\(function)() got an unexpected keyword argument '\(unknown.name)'")
        }
    }
}
