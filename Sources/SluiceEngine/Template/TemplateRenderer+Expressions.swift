#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TemplateRenderer {
    /// Evaluates an expression; an error from inside it gets the position of the innermost expression that failed.
    func evaluate(_ expression: TemplateExpression) throws(ChatTemplateError) -> TemplateValue {
        do {
            return try evaluateUnlocated(expression)
        } catch {
            throw error.located(at: expression.offset)
        }
    }

    private func evaluateUnlocated(_ expression: TemplateExpression) throws(ChatTemplateError) -> TemplateValue {
        switch expression.kind {
        case .literal(let literal):
            return TemplateValue(literal)

        case .variable(let name):
            return lookup(name)

        case .list(let elements):
            var values: [TemplateValue] = []
            values.reserveCapacity(elements.count)
            for element in elements {
                values.append(try evaluate(element))
            }
            return .list(values)

        case .dictionary(let entries):
            var dictionary = TemplateDictionary()
            for entry in entries {
                let key = try evaluate(entry.key)
                switch key {
                case .string, .integer, .float, .boolean, .none:
                    dictionary[key] = try evaluate(entry.value)
                default:
                    throw ChatTemplateError(.invalidOperation, "unhashable dictionary key of type '\(key.typeName)'")
                }
            }
            return .dictionary(dictionary)

        case .attribute(let objectExpression, let name):
            let object = try evaluate(objectExpression)
            return try attribute(name, of: object, description: Self.describe(expression))

        case .subscriptAccess(let objectExpression, let indexExpression):
            let object = try evaluate(objectExpression)
            let index = try evaluate(indexExpression)
            return try item(index, of: object, description: Self.describe(expression))

        case .slice(let objectExpression, let start, let stop, let step):
            let object = try evaluate(objectExpression)
            return try slice(
                object,
                start: try start.map { expression throws(ChatTemplateError) in try evaluate(expression) },
                stop: try stop.map { expression throws(ChatTemplateError) in try evaluate(expression) },
                step: try step.map { expression throws(ChatTemplateError) in try evaluate(expression) })

        case .call(let calleeExpression, let argumentExpressions):
            let callee = try evaluate(calleeExpression)
            let arguments = try evaluate(argumentExpressions)
            return try call(callee, arguments, description: Self.describe(calleeExpression))

        case .filter(let valueExpression, let name, let argumentExpressions):
            let value = try evaluate(valueExpression)
            return try applyFilter(name, to: value, try evaluate(argumentExpressions))

        case .test(let valueExpression, let name, let argumentExpressions, let negated):
            let value = try evaluate(valueExpression)
            let result = try applyTest(name, to: value, try evaluate(argumentExpressions))
            return .boolean(result != negated)

        case .negate(let operandExpression):
            let operand = try evaluate(operandExpression)
            switch operand {
            case .integer(let value):
                let (negated, overflow) = (0).subtractingReportingOverflow(value)
                guard !overflow else { throw Self.overflowError() }
                return .integer(negated)
            case .boolean(let value):
                return .integer(value ? -1 : 0)
            case .float(let value):
                return .float(-value)
            default:
                throw try Self.operandError("unary -", operand)
            }

        case .plus(let operandExpression):
            let operand = try evaluate(operandExpression)
            guard operand.number != nil else { throw try Self.operandError("unary +", operand) }
            return operand

        case .not(let operand):
            return .boolean(!(try evaluate(operand).isTruthy))

        case .and(let leftExpression, let rightExpression):
            let left = try evaluate(leftExpression)
            return left.isTruthy ? try evaluate(rightExpression) : left

        case .or(let leftExpression, let rightExpression):
            let left = try evaluate(leftExpression)
            return left.isTruthy ? left : try evaluate(rightExpression)

        case .binary(let binaryOperator, let leftExpression, let rightExpression):
            let left = try evaluate(leftExpression)
            let right = try evaluate(rightExpression)
            return try Self.apply(binaryOperator, left, right)

        case .comparison(let firstExpression, let operations):
            var left = try evaluate(firstExpression)
            for (comparison, rightExpression) in operations {
                let right = try evaluate(rightExpression)
                guard try Self.compare(comparison, left, right) else {
                    return .boolean(false)
                }
                left = right
            }
            return .boolean(true)

        case .conditional(let valueExpression, let conditionExpression, let alternative):
            if try evaluate(conditionExpression).isTruthy {
                return try evaluate(valueExpression)
            }
            guard let alternative else {
                return .undefined("the missing else branch")
            }
            return try evaluate(alternative)
        }
    }

    func evaluate(_ arguments: TemplateCallArguments) throws(ChatTemplateError) -> TemplateArguments {
        var evaluated = TemplateArguments()
        for expression in arguments.positional {
            evaluated.positional.append(try evaluate(expression))
        }
        for (name, expression) in arguments.keyword {
            evaluated.keyword.append((name, try evaluate(expression)))
        }
        return evaluated
    }

    /// Spells an expression for error messages and undefined values: `message.role`, `messages[0]`.
    static func describe(_ expression: TemplateExpression) -> String {
        switch expression.kind {
        case .variable(let name):
            return name
        case .attribute(let object, let name):
            return describe(object) + "." + name
        case .subscriptAccess(let object, let index):
            if case .literal(let literal) = index.kind {
                return describe(object) + "[" + TemplateValue(literal).representation + "]"
            }
            return describe(object) + "[…]"
        case .call(let callee, _):
            return describe(callee) + "()"
        case .literal(let literal):
            return TemplateValue(literal).representation
        default:
            return "expression"
        }
    }

    // MARK: - Access

    /// Returns `object.name`: a dictionary method or key, a namespace attribute, a string method, or undefined.
    func attribute(
        _ name: String,
        of object: TemplateValue,
        description: @autoclosure () -> String
    ) throws(ChatTemplateError) -> TemplateValue {
        switch object {
        case .undefined(let undefinedName):
            throw ChatTemplateError(.undefined, "'\(undefinedName)' is undefined, so it has no attribute '\(name)'")
        case .dictionary(let dictionary):
            if let method = Self.dictionaryMethod(name, of: dictionary) {
                return .function(method)
            }
            return dictionary[name] ?? .undefined(description())
        case .namespace(let namespace):
            return namespace.attributes[name] ?? .undefined(description())
        case .string(let text):
            if let method = Self.stringMethod(name, of: text) {
                return .function(method)
            }
            return .undefined(description())
        default:
            return .undefined(description())
        }
    }

    /// Returns `object[index]`; a missing key or an index out of range gives undefined, as in Jinja.
    func item(
        _ index: TemplateValue,
        of object: TemplateValue,
        description: @autoclosure () -> String
    ) throws(ChatTemplateError) -> TemplateValue {
        switch object {
        case .undefined(let undefinedName):
            throw ChatTemplateError(.undefined, "'\(undefinedName)' is undefined, so it cannot be indexed")
        case .list(let values):
            guard let position = Self.resolveIndex(index, count: values.count) else { return .undefined(description()) }
            return values[position]
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            guard let position = Self.resolveIndex(index, count: scalars.count) else { return .undefined(description()) }
            return .string(String(scalars[position]))
        case .dictionary(let dictionary):
            if let value = dictionary[index] {
                return value
            }
            if case .string(let name) = index, let method = Self.dictionaryMethod(name, of: dictionary) {
                return .function(method)
            }
            return .undefined(description())
        case .namespace(let namespace):
            return namespace.attributes[index] ?? .undefined(description())
        default:
            return .undefined(description())
        }
    }

    /// Maps a Python index (negative counts from the end) to a valid position, or nil.
    private static func resolveIndex(_ index: TemplateValue, count: Int) -> Int? {
        guard let value = index.integer else { return nil }
        let position = value < 0 ? value + count : value
        return (0..<count).contains(position) ? position : nil
    }

    private func slice(
        _ object: TemplateValue,
        start: TemplateValue?,
        stop: TemplateValue?,
        step: TemplateValue?
    ) throws(ChatTemplateError) -> TemplateValue {
        func bound(_ value: TemplateValue?, _ name: String) throws(ChatTemplateError) -> Int? {
            switch value {
            case nil, .none?, .undefined?:
                return nil
            case let value?:
                guard let integer = value.integer else {
                    throw ChatTemplateError(.invalidOperation, "slice \(name) must be an integer, not '\(value.typeName)'")
                }
                return integer
            }
        }
        let startIndex = try bound(start, "start")
        let stopIndex = try bound(stop, "stop")
        let stepValue = try bound(step, "step") ?? 1
        guard stepValue != 0 else {
            throw ChatTemplateError(.invalidOperation, "slice step cannot be zero")
        }

        switch object {
        case .list(let values):
            let positions = Self.slicePositions(count: values.count, start: startIndex, stop: stopIndex, step: stepValue)
            return .list(positions.map { values[$0] })
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            let positions = Self.slicePositions(count: scalars.count, start: startIndex, stop: stopIndex, step: stepValue)
            return .string(String(String.UnicodeScalarView(positions.map { scalars[$0] })))
        case .undefined(let name):
            throw ChatTemplateError(.undefined, "'\(name)' is undefined, so it cannot be sliced")
        default:
            throw ChatTemplateError(.invalidOperation, "'\(object.typeName)' object cannot be sliced")
        }
    }

    /// Python's slice semantics: negative bounds count from the end, and out-of-range bounds clamp.
    static func slicePositions(count: Int, start: Int?, stop: Int?, step: Int) -> [Int] {
        func clamp(_ value: Int, lower: Int, upper: Int) -> Int {
            let shifted = value < 0 ? value + count : value
            return min(max(shifted, lower), upper)
        }
        var positions: [Int] = []
        if step > 0 {
            let first = start.map { clamp($0, lower: 0, upper: count) } ?? 0
            let end = stop.map { clamp($0, lower: 0, upper: count) } ?? count
            var position = first
            while position < end {
                positions.append(position)
                let (advanced, overflow) = position.addingReportingOverflow(step)
                if overflow { break }
                position = advanced
            }
        } else {
            let first = start.map { clamp($0, lower: -1, upper: count - 1) } ?? count - 1
            let end = stop.map { clamp($0, lower: -1, upper: count - 1) } ?? -1
            var position = first
            while position > end {
                positions.append(position)
                let (advanced, overflow) = position.addingReportingOverflow(step)
                if overflow { break }
                position = advanced
            }
        }
        return positions
    }

    func call(
        _ callee: TemplateValue,
        _ arguments: TemplateArguments,
        description: @autoclosure () -> String
    ) throws(ChatTemplateError) -> TemplateValue {
        switch callee {
        case .function(let function):
            return try function.body(arguments)
        case .macro(let macro):
            return try callMacro(macro, arguments)
        case .undefined:
            throw ChatTemplateError(.undefined, "'\(description())' is undefined and cannot be called")
        default:
            throw ChatTemplateError(.invalidOperation, "a '\(callee.typeName)' value is not callable: \(description())")
        }
    }

    // MARK: - Operators

    static func apply(
        _ binaryOperator: TemplateBinaryOperator,
        _ left: TemplateValue,
        _ right: TemplateValue
    ) throws(ChatTemplateError) -> TemplateValue {
        if binaryOperator == .concatenate {
            let first = left.text
            let second = right.text
            try TemplateRenderer.checkStringSize(first.utf8.count + second.utf8.count)
            return .string(first + second)
        }
        for operand in [left, right] {
            if case .undefined(let name) = operand {
                throw ChatTemplateError(.undefined, "'\(name)' is undefined")
            }
        }

        switch (binaryOperator, left, right) {
        case (.add, .string(let first), .string(let second)):
            try TemplateRenderer.checkStringSize(first.utf8.count + second.utf8.count)
            return .string(first + second)
        case (.add, .list(let first), .list(let second)):
            guard first.count + second.count <= TemplateRenderer.maxListCount else {
                throw ChatTemplateError(.limitExceeded, "a list would have more than \(TemplateRenderer.maxListCount) items")
            }
            return .list(first + second)
        case (.multiply, .string(let text), _) where right.integer != nil:
            return .string(try repeated(text, right.integer!))
        case (.multiply, _, .string(let text)) where left.integer != nil:
            return .string(try repeated(text, left.integer!))
        case (.multiply, .list(let values), _) where right.integer != nil:
            return .list(try repeated(values, right.integer!))
        case (.modulo, .string, _):
            throw ChatTemplateError(.invalidOperation, "string formatting with '%' is not supported; use '~' or '+'")
        default:
            break
        }

        if let first = left.integer, let second = right.integer {
            return try integerArithmetic(binaryOperator, first, second)
        }
        if let first = left.number, let second = right.number {
            return try floatArithmetic(binaryOperator, first, second)
        }
        throw ChatTemplateError(
            .invalidOperation,
            "unsupported operand types for \(binaryOperator.rawValue): '\(left.typeName)' and '\(right.typeName)'")
    }

    private static func integerArithmetic(
        _ binaryOperator: TemplateBinaryOperator,
        _ left: Int,
        _ right: Int
    ) throws(ChatTemplateError) -> TemplateValue {
        let result: (partialValue: Int, overflow: Bool)
        switch binaryOperator {
        case .add:
            result = left.addingReportingOverflow(right)
        case .subtract:
            result = left.subtractingReportingOverflow(right)
        case .multiply:
            result = left.multipliedReportingOverflow(by: right)
        case .divide:
            return try floatArithmetic(.divide, Double(left), Double(right))
        case .floorDivide, .modulo:
            guard right != 0 else {
                throw ChatTemplateError(.invalidOperation, "integer division or modulo by zero")
            }
            guard !(left == Int.min && right == -1) else { throw overflowError() }
            // Python rounds the quotient toward negative infinity, so the remainder takes the divisor's sign.
            var quotient = left / right
            var remainder = left % right
            if remainder != 0 && (remainder < 0) != (right < 0) {
                quotient -= 1
                remainder += right
            }
            return .integer(binaryOperator == .floorDivide ? quotient : remainder)
        case .power:
            guard right >= 0 else {
                return try floatArithmetic(.power, Double(left), Double(right))
            }
            var base = left
            var exponent = right
            var accumulator = 1
            while exponent > 0 {
                if exponent & 1 == 1 {
                    let product = accumulator.multipliedReportingOverflow(by: base)
                    guard !product.overflow else { throw overflowError() }
                    accumulator = product.partialValue
                }
                exponent >>= 1
                if exponent > 0 {
                    let square = base.multipliedReportingOverflow(by: base)
                    guard !square.overflow else { throw overflowError() }
                    base = square.partialValue
                }
            }
            return .integer(accumulator)
        case .concatenate:
            return .string(String(left) + String(right))
        }
        guard !result.overflow else { throw overflowError() }
        return .integer(result.partialValue)
    }

    private static func floatArithmetic(
        _ binaryOperator: TemplateBinaryOperator,
        _ left: Double,
        _ right: Double
    ) throws(ChatTemplateError) -> TemplateValue {
        switch binaryOperator {
        case .add: return .float(left + right)
        case .subtract: return .float(left - right)
        case .multiply: return .float(left * right)
        case .divide, .floorDivide, .modulo:
            guard right != 0 else {
                throw ChatTemplateError(.invalidOperation, "float division by zero")
            }
            switch binaryOperator {
            case .divide:
                return .float(left / right)
            case .floorDivide:
                return .float((left / right).rounded(.down))
            default:
                let remainder = left.truncatingRemainder(dividingBy: right)
                return .float(remainder != 0 && (remainder < 0) != (right < 0) ? remainder + right : remainder)
            }
        case .power: return .float(pow(left, right))
        case .concatenate: return .string(TemplateValue.float(left).text + TemplateValue.float(right).text)
        }
    }

    private static func repeated(_ text: String, _ count: Int) throws(ChatTemplateError) -> String {
        guard count > 0 else { return "" }
        let (size, overflow) = text.utf8.count.multipliedReportingOverflow(by: count)
        guard !overflow else {
            throw ChatTemplateError(.limitExceeded, "a string would be larger than \(TemplateRenderer.maxStringBytes) bytes")
        }
        try TemplateRenderer.checkStringSize(size)
        return String(repeating: text, count: count)
    }

    private static func repeated(_ values: [TemplateValue], _ count: Int) throws(ChatTemplateError) -> [TemplateValue] {
        guard count > 0 else { return [] }
        let (size, overflow) = values.count.multipliedReportingOverflow(by: count)
        guard !overflow, size <= TemplateRenderer.maxListCount else {
            throw ChatTemplateError(.limitExceeded, "a list would have more than \(TemplateRenderer.maxListCount) items")
        }
        return Array([[TemplateValue]](repeating: values, count: count).joined())
    }

    static func overflowError() -> ChatTemplateError {
        ChatTemplateError(.invalidOperation, "integer overflow: the result does not fit in 64 bits")
    }

    static func operandError(_ operation: String, _ operand: TemplateValue) throws(ChatTemplateError) -> ChatTemplateError {
        if case .undefined(let name) = operand {
            return ChatTemplateError(.undefined, "'\(name)' is undefined")
        }
        return ChatTemplateError(.invalidOperation, "bad operand type for \(operation): '\(operand.typeName)'")
    }

    static func compare(
        _ comparison: TemplateComparisonOperator,
        _ left: TemplateValue,
        _ right: TemplateValue
    ) throws(ChatTemplateError) -> Bool {
        switch comparison {
        case .equal:
            return left.isEqual(to: right)
        case .notEqual:
            return !left.isEqual(to: right)
        case .contains:
            return try contains(right, left)
        case .notContains:
            return try !contains(right, left)
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            guard let order = order(left, right) else {
                throw ChatTemplateError(
                    .invalidOperation,
                    "'\(comparison.rawValue)' is not supported between '\(left.typeName)' and '\(right.typeName)'")
            }
            switch comparison {
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .greater: return order > 0
            default: return order >= 0
            }
        }
    }

    /// Orders two values as Python does: -1, 0 or 1, or nil when the types do not compare.
    static func order(_ left: TemplateValue, _ right: TemplateValue) -> Int? {
        switch (left, right) {
        case (.string(let first), .string(let second)):
            // UTF-8 byte order is code point order, which is Python's string order.
            if first.utf8.elementsEqual(second.utf8) { return 0 }
            return first.utf8.lexicographicallyPrecedes(second.utf8) ? -1 : 1
        case (.list(let first), .list(let second)):
            for (a, b) in zip(first, second) {
                guard let elementOrder = order(a, b) else { return nil }
                if elementOrder != 0 { return elementOrder }
            }
            return first.count == second.count ? 0 : (first.count < second.count ? -1 : 1)
        default:
            if let first = left.integer, let second = right.integer {
                return first == second ? 0 : (first < second ? -1 : 1)
            }
            guard let first = left.number, let second = right.number, !first.isNaN, !second.isNaN else {
                return nil
            }
            return first == second ? 0 : (first < second ? -1 : 1)
        }
    }

    /// Python's `element in container`.
    static func contains(_ container: TemplateValue, _ element: TemplateValue) throws(ChatTemplateError) -> Bool {
        switch container {
        case .undefined:
            return false
        case .string(let text):
            guard case .string(let needle) = element else {
                throw ChatTemplateError(
                    .invalidOperation, "'in <string>' requires a string on the left, not '\(element.typeName)'")
            }
            return needle.isEmpty || text.unicodeScalars.firstRange(of: needle.unicodeScalars) != nil
        case .list(let values):
            return values.contains { $0.isEqual(to: element) }
        case .dictionary(let dictionary):
            return dictionary[element] != nil
        case .namespace(let namespace):
            return namespace.attributes[element] != nil
        default:
            throw ChatTemplateError(.invalidOperation, "argument of type '\(container.typeName)' is not iterable")
        }
    }
}
