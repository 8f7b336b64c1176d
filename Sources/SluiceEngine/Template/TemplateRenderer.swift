/// Renders a parsed template: runs its statements and collects the output.
///
/// One renderer serves one `render` call. Variables live in a stack of
/// scopes: the template's top level, then one scope per running `for` loop
/// (so that `{% set %}` in a loop body does not leak out, as in Jinja), and a
/// fresh stack for each macro call.
final class TemplateRenderer {
    /// The control flow a statement hands back to the loop around it.
    enum Flow {
        case proceed
        case breakLoop
        case continueLoop
    }

    /// Output beyond this many UTF-8 bytes fails the render: a chat prompt is far
    /// smaller, so only a runaway template gets there.
    static let maxOutputBytes = 16 << 20
    /// Loop iterations (all loops together) beyond this fail the render, so that nested loops over `range()` end.
    static let maxLoopIterations = 1_000_000
    /// Macro calls nested deeper than this fail the render, so that recursion cannot exhaust the stack.
    static let maxCallDepth = 32
    /// Strings built by concatenation, `join` or `replace` longer than this many UTF-8 bytes fail the render.
    static let maxStringBytes = maxOutputBytes
    /// Lists built by `+` or `*` longer than this fail the render.
    static let maxListCount = 1_000_000

    // NOTE: values nested thousands of levels deep (`{% set x = [x] %}` in a
    // long loop) can still exhaust the stack when printed or freed. Templates
    // come from the model file, and client messages are flat, so only a
    // hostile model file can build them.

    /// Throws unless a string of `byteCount` UTF-8 bytes is within `maxStringBytes`.
    static func checkStringSize(_ byteCount: Int) throws(ChatTemplateError) {
        guard byteCount <= maxStringBytes else {
            throw ChatTemplateError(.limitExceeded, "a string would be larger than \(maxStringBytes) bytes")
        }
    }

    private(set) var output = ""
    var scopes: [[String: TemplateValue]]
    let globals: [String: TemplateValue]
    private var writtenBytes = 0
    private var loopIterations = 0
    private var callDepth = 0

    init(globals: [String: TemplateValue]) {
        self.globals = globals
        self.scopes = [[:]]
    }

    /// Renders the statements and returns the output.
    func render(_ nodes: [TemplateNode]) throws(ChatTemplateError) -> String {
        _ = try execute(nodes)
        return output
    }

    func execute(_ nodes: [TemplateNode]) throws(ChatTemplateError) -> Flow {
        for node in nodes {
            let flow = try execute(node)
            if flow != .proceed {
                return flow
            }
        }
        return .proceed
    }

    private func execute(_ node: TemplateNode) throws(ChatTemplateError) -> Flow {
        switch node {
        case .text(let text):
            try write(text)

        case .output(let expression):
            let value = try evaluate(expression)
            try write(value.text)

        case .conditional(let branches, let otherwise):
            for branch in branches {
                if try evaluate(branch.condition).isTruthy {
                    return try execute(branch.body)
                }
            }
            if let otherwise {
                return try execute(otherwise)
            }

        case .loop(let loop):
            try executeLoop(loop)

        case .assignment(let target, let expression):
            let value = try evaluate(expression)
            do {
                try assign(value, to: target)
            } catch {
                throw error.located(at: expression.offset)
            }

        case .blockAssignment(let target, let body, let offset):
            let text = try capture { () throws(ChatTemplateError) in _ = try execute(body) }
            do {
                try assign(.string(text), to: target)
            } catch {
                throw error.located(at: offset)
            }

        case .macroDefinition(let macro):
            scopes[scopes.count - 1][macro.name] = .macro(macro)

        case .group(let body):
            return try execute(body)

        case .breakLoop:
            return .breakLoop

        case .continueLoop:
            return .continueLoop
        }
        return .proceed
    }

    private func write(_ text: String) throws(ChatTemplateError) {
        writtenBytes += text.utf8.count
        guard writtenBytes <= Self.maxOutputBytes else {
            throw ChatTemplateError(.limitExceeded, "output is larger than \(Self.maxOutputBytes) bytes")
        }
        output += text
    }

    /// Runs `body` with a fresh output buffer and returns what it wrote.
    func capture(_ body: () throws(ChatTemplateError) -> Void) throws(ChatTemplateError) -> String {
        let saved = output
        output = ""
        defer { output = saved }
        try body()
        return output
    }

    // MARK: - Variables

    /// Returns the value of a name: the innermost scope first, then the render's globals, then built-in functions.
    func lookup(_ name: String) -> TemplateValue {
        for scope in scopes.reversed() {
            if let value = scope[name] {
                return value
            }
        }
        if let value = globals[name] {
            return value
        }
        if let function = Self.builtinFunction(named: name) {
            return .function(function)
        }
        return .undefined(name)
    }

    private func assign(_ value: TemplateValue, to target: TemplateAssignmentTarget) throws(ChatTemplateError) {
        switch target {
        case .variable(let name):
            scopes[scopes.count - 1][name] = value

        case .variables(let names):
            let values = try unpack(value, into: names.count)
            for (name, element) in zip(names, values) {
                scopes[scopes.count - 1][name] = element
            }

        case .attribute(let object, let attribute):
            guard case .namespace(let namespace) = lookup(object) else {
                throw ChatTemplateError(
                    .invalidOperation,
                    "cannot set attribute '\(attribute)' of '\(object)': only namespace() objects accept attribute assignment")
            }
            namespace.attributes[.string(attribute)] = value
        }
    }

    private func unpack(_ value: TemplateValue, into count: Int) throws(ChatTemplateError) -> [TemplateValue] {
        let values = try iterate(value)
        guard values.count == count else {
            throw ChatTemplateError(
                .invalidOperation, "cannot unpack \(values.count) values into \(count) variables")
        }
        return values
    }

    // MARK: - Loops

    private func executeLoop(_ loop: TemplateLoop) throws(ChatTemplateError) {
        let items = try loopItems(loop)
        if items.isEmpty {
            if let otherwise = loop.otherwise {
                _ = try execute(otherwise)
            }
            return
        }

        scopes.append([:])
        defer { scopes.removeLast() }

        for (position, item) in items.enumerated() {
            loopIterations += 1
            guard loopIterations <= Self.maxLoopIterations else {
                throw ChatTemplateError(
                    .limitExceeded, "loops ran more than \(Self.maxLoopIterations) iterations", at: loop.offset)
            }
            do {
                try bind(item, to: loop.targets)
            } catch {
                throw error.located(at: loop.offset)
            }
            scopes[scopes.count - 1]["loop"] = Self.loopVariable(position: position, items: items)

            let flow = try execute(loop.body)
            if flow == .breakLoop {
                break
            }
        }
    }

    /// Evaluates the loop's iterable and keeps the items that pass its `if` filter.
    private func loopItems(_ loop: TemplateLoop) throws(ChatTemplateError) -> [TemplateValue] {
        let items: [TemplateValue]
        do {
            items = try iterate(try evaluate(loop.iterable))
        } catch {
            throw error.located(at: loop.iterable.offset)
        }
        guard let filter = loop.filter else { return items }

        // The filter sees the loop variables but not `loop`, in a scope of its own.
        scopes.append([:])
        defer { scopes.removeLast() }
        var kept: [TemplateValue] = []
        for item in items {
            do {
                try bind(item, to: loop.targets)
            } catch {
                throw error.located(at: loop.offset)
            }
            if try evaluate(filter).isTruthy {
                kept.append(item)
            }
        }
        return kept
    }

    private func bind(_ item: TemplateValue, to targets: [String]) throws(ChatTemplateError) {
        if targets.count == 1 {
            scopes[scopes.count - 1][targets[0]] = item
            return
        }
        let values = try unpack(item, into: targets.count)
        for (name, value) in zip(targets, values) {
            scopes[scopes.count - 1][name] = value
        }
    }

    /// The keys of the `loop` object. `nonisolated(unsafe)` is safe because the
    /// array is a constant of string values, which hold no reference to shared state.
    nonisolated(unsafe) private static let loopKeys: [TemplateValue] = [
        "index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0", "previtem",
        "nextitem", "cycle",
    ].map { .string($0) }

    /// Builds Jinja's `loop` object for the item at `position`.
    private static func loopVariable(position: Int, items: [TemplateValue]) -> TemplateValue {
        let count = items.count
        let cycle = TemplateFunction(name: "loop.cycle") { arguments throws(ChatTemplateError) in
            guard !arguments.positional.isEmpty else {
                throw ChatTemplateError(.invalidOperation, "loop.cycle() needs at least one argument")
            }
            return arguments.positional[position % arguments.positional.count]
        }
        let values: [TemplateValue] = [
            .integer(position + 1),
            .integer(position),
            .integer(count - position),
            .integer(count - position - 1),
            .boolean(position == 0),
            .boolean(position == count - 1),
            .integer(count),
            .integer(1),
            .integer(0),
            position > 0 ? items[position - 1] : .undefined("loop.previtem"),
            position + 1 < count ? items[position + 1] : .undefined("loop.nextitem"),
            .function(cycle),
        ]
        return .dictionary(TemplateDictionary(distinctKeys: loopKeys, values: values))
    }

    /// Returns the items a `for` loop visits: list elements, dictionary keys or the characters of a string.
    func iterate(_ value: TemplateValue) throws(ChatTemplateError) -> [TemplateValue] {
        switch value {
        case .undefined:
            return []
        case .list(let values):
            return values
        case .dictionary(let dictionary):
            return dictionary.entries.map(\.key)
        case .string(let text):
            return text.unicodeScalars.map { .string(String($0)) }
        default:
            throw ChatTemplateError(.invalidOperation, "'\(value.typeName)' object is not iterable")
        }
    }

    // MARK: - Macros

    func callMacro(_ macro: TemplateMacro, _ arguments: TemplateArguments) throws(ChatTemplateError) -> TemplateValue {
        guard arguments.positional.count <= macro.parameters.count else {
            throw ChatTemplateError(
                .invalidOperation,
                "macro '\(macro.name)' takes \(macro.parameters.count) arguments, got \(arguments.positional.count)")
        }
        if let unknown = arguments.keyword.first(where: { keyword in
            !macro.parameters.contains { $0.name == keyword.name }
        }) {
            throw ChatTemplateError(.invalidOperation, "macro '\(macro.name)' has no parameter '\(unknown.name)'")
        }
        callDepth += 1
        defer { callDepth -= 1 }
        guard callDepth <= Self.maxCallDepth else {
            throw ChatTemplateError(.limitExceeded, "macro calls nested more than \(Self.maxCallDepth) deep")
        }

        let savedScopes = scopes
        scopes = [scopes[0], [:]]
        defer { scopes = savedScopes }

        for (position, parameter) in macro.parameters.enumerated() {
            if let value = arguments.value(position, parameter.name) {
                scopes[1][parameter.name] = value
            } else if let defaultValue = parameter.defaultValue {
                scopes[1][parameter.name] = try evaluate(defaultValue)
            } else {
                scopes[1][parameter.name] = .undefined(parameter.name)
            }
        }
        let text = try capture { () throws(ChatTemplateError) in _ = try execute(macro.body) }
        return .string(text)
    }
}
