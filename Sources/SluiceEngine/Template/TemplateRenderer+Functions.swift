#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Built-in functions and the Python methods of strings and dictionaries that chat templates call.
extension TemplateRenderer {
    /// Returns the global function of that name: `range`, `namespace`, `dict`, `raise_exception` or `strftime_now`.
    static func builtinFunction(named name: String) -> TemplateFunction? {
        switch name {
        case "range":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                try arguments.check(function: name, maxPositional: 3)
                return try range(arguments.positional)
            }
        case "namespace":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                var attributes = TemplateDictionary()
                for value in arguments.positional {
                    guard case .dictionary(let dictionary) = value else {
                        throw ChatTemplateError(.invalidOperation, "namespace() takes a dict or keyword arguments")
                    }
                    for entry in dictionary.entries {
                        attributes[entry.key] = entry.value
                    }
                }
                for (key, value) in arguments.keyword {
                    attributes[.string(key)] = value
                }
                return .namespace(TemplateNamespace(attributes: attributes))
            }
        case "dict":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                try arguments.check(function: name, maxPositional: 0, keywords: arguments.keyword.map(\.name))
                return .dictionary(TemplateDictionary(arguments.keyword.map { ($0.name, $0.value) }))
            }
        case "raise_exception":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                let message = arguments.value(0, "message")?.text ?? "raise_exception() was called"
                throw ChatTemplateError(.raised, message)
            }
        case "strftime_now":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                guard case .string(let format)? = arguments.value(0, "format") else {
                    throw ChatTemplateError(.invalidOperation, "strftime_now() needs a format string")
                }
                return .string(formatCurrentTime(format))
            }
        default:
            return nil
        }
    }

    private static func range(_ bounds: [TemplateValue]) throws(ChatTemplateError) -> TemplateValue {
        var integers: [Int] = []
        for bound in bounds {
            guard let integer = bound.integer else {
                throw ChatTemplateError(.invalidOperation, "range() arguments must be integers, not '\(bound.typeName)'")
            }
            integers.append(integer)
        }

        let (start, stop, step): (Int, Int, Int)
        switch integers.count {
        case 1: (start, stop, step) = (0, integers[0], 1)
        case 2: (start, stop, step) = (integers[0], integers[1], 1)
        case 3: (start, stop, step) = (integers[0], integers[1], integers[2])
        default: throw ChatTemplateError(.invalidOperation, "range() takes 1 to 3 arguments")
        }
        guard step != 0 else {
            throw ChatTemplateError(.invalidOperation, "range() step must not be zero")
        }
        // Compute the length in Double so that extreme bounds cannot overflow.
        let length = max(0, ((Double(stop) - Double(start)) / Double(step)).rounded(.up))
        guard length <= Double(maxLoopIterations) else {
            throw ChatTemplateError(.limitExceeded, "range() would have more than \(maxLoopIterations) items")
        }

        var values: [TemplateValue] = []
        values.reserveCapacity(Int(length))
        var value = start
        while step > 0 ? value < stop : value > stop {
            values.append(.integer(value))
            let (advanced, overflow) = value.addingReportingOverflow(step)
            if overflow { break }
            value = advanced
        }
        return .list(values)
    }

    private static func formatCurrentTime(_ format: String) -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 256)
        let length = strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Methods

    /// Returns the dictionary method `name` bound to `dictionary`: `items`, `keys`, `values` or `get`.
    static func dictionaryMethod(_ name: String, of dictionary: TemplateDictionary) -> TemplateFunction? {
        switch name {
        case "items":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in
                .list(dictionary.entries.map { .list([$0.key, $0.value]) })
            }
        case "keys":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in .list(dictionary.entries.map(\.key)) }
        case "values":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in .list(dictionary.entries.map(\.value)) }
        case "get":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                guard let key = arguments.value(0, "key") else {
                    throw ChatTemplateError(.invalidOperation, "get() needs a key")
                }
                return dictionary[key] ?? arguments.value(1, "default") ?? .none
            }
        default:
            return nil
        }
    }

    /// Returns the string method `name` bound to `text`, or nil when strings have no such method.
    static func stringMethod(_ name: String, of text: String) -> TemplateFunction? {
        switch name {
        case "strip", "lstrip", "rstrip":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                .string(strip(
                    text, characters: arguments.value(0, "chars"),
                    leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "upper":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in .string(text.uppercased()) }
        case "lower":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in .string(text.lowercased()) }
        case "title":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in .string(pythonTitle(text)) }
        case "capitalize":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in .string(capitalize(text)) }
        case "startswith", "endswith":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                guard let affix = arguments.value(0, "prefix") ?? arguments.value(0, "suffix") else {
                    throw ChatTemplateError(.invalidOperation, "\(name)() needs an argument")
                }
                let candidates: [TemplateValue]
                if case .list(let values) = affix {
                    candidates = values
                } else {
                    candidates = [affix]
                }
                let scalars = Array(text.unicodeScalars)
                for candidate in candidates {
                    guard case .string(let string) = candidate else {
                        throw ChatTemplateError(.invalidOperation, "\(name)() needs a string, not '\(candidate.typeName)'")
                    }
                    let affixScalars = Array(string.unicodeScalars)
                    let matches = name == "startswith"
                        ? scalars.starts(with: affixScalars)
                        : scalars.reversed().starts(with: affixScalars.reversed())
                    if matches {
                        return .boolean(true)
                    }
                }
                return .boolean(false)
            }
        case "split":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                let separator = arguments.value(0, "sep")
                let limit = arguments.value(1, "maxsplit")?.integer ?? -1
                return .list(try split(text, separator: separator, maxSplits: limit).map { .string($0) })
            }
        case "splitlines":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in
                // Python drops the empty line after a final line break.
                var lines: [TemplateValue] = []
                var line = ""
                for character in text {
                    if character.isNewline {
                        lines.append(.string(line))
                        line = ""
                    } else {
                        line.append(character)
                    }
                }
                if !line.isEmpty {
                    lines.append(.string(line))
                }
                return .list(lines)
            }
        case "replace":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                guard let old = arguments.value(0, "old"), let new = arguments.value(1, "new") else {
                    throw ChatTemplateError(.invalidOperation, "replace() needs the old and new strings")
                }
                return .string(try replace(text, old.text, new.text, count: arguments.value(2, "count")?.integer))
            }
        case "find":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                guard case .string(let needle)? = arguments.value(0, "sub") else {
                    throw ChatTemplateError(.invalidOperation, "find() needs a string")
                }
                let scalars = Array(text.unicodeScalars)
                guard let range = scalars.firstRange(of: Array(needle.unicodeScalars)) else {
                    return .integer(-1)
                }
                return .integer(range.lowerBound)
            }
        case "count":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                guard case .string(let needle)? = arguments.value(0, "sub") else {
                    throw ChatTemplateError(.invalidOperation, "count() needs a string")
                }
                guard !needle.isEmpty else {
                    return .integer(text.unicodeScalars.count + 1)
                }
                return .integer(Array(text.unicodeScalars).ranges(of: Array(needle.unicodeScalars)).count)
            }
        case "join":
            return TemplateFunction(name: name) { arguments throws(ChatTemplateError) in
                guard case .list(let values)? = arguments.value(0, "iterable") else {
                    throw ChatTemplateError(.invalidOperation, "join() needs a list")
                }
                return .string(values.map(\.text).joined(separator: text))
            }
        case "isdigit", "isalpha", "isspace", "isupper", "islower":
            return TemplateFunction(name: name) { _ throws(ChatTemplateError) in
                .boolean(characterTest(name, text))
            }
        default:
            return nil
        }
    }

    // MARK: - Python string semantics

    /// Python's `str.isspace()` set: Unicode White_Space plus the separators U+001C to U+001F.
    static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }

    /// Python's `strip`, `lstrip` and `rstrip`: whitespace, or the scalars of `characters` when it is a string.
    static func strip(_ text: String, characters: TemplateValue?, leading: Bool, trailing: Bool) -> String {
        let set: Set<Unicode.Scalar>?
        if case .string(let chars)? = characters {
            set = Set(chars.unicodeScalars)
        } else {
            set = nil
        }
        let shouldStrip = { (scalar: Unicode.Scalar) -> Bool in set?.contains(scalar) ?? isPythonWhitespace(scalar) }

        let scalars = Array(text.unicodeScalars)
        var start = 0
        var end = scalars.count
        if leading {
            while start < end && shouldStrip(scalars[start]) {
                start += 1
            }
        }
        if trailing {
            while end > start && shouldStrip(scalars[end - 1]) {
                end -= 1
            }
        }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }

    /// Python's `split`: on runs of whitespace without a separator, else on each occurrence of it.
    static func split(_ text: String, separator: TemplateValue?, maxSplits: Int) throws(ChatTemplateError) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var parts: [String] = []
        var splits = 0

        switch separator {
        case nil, .none?:
            var index = 0
            while index < scalars.count {
                while index < scalars.count && isPythonWhitespace(scalars[index]) {
                    index += 1
                }
                guard index < scalars.count else { break }
                if maxSplits >= 0 && splits == maxSplits {
                    var end = scalars.count
                    while end > index && isPythonWhitespace(scalars[end - 1]) {
                        end -= 1
                    }
                    parts.append(String(String.UnicodeScalarView(scalars[index..<end])))
                    break
                }
                let start = index
                while index < scalars.count && !isPythonWhitespace(scalars[index]) {
                    index += 1
                }
                parts.append(String(String.UnicodeScalarView(scalars[start..<index])))
                splits += 1
            }
            return parts

        case .string(let separatorText)?:
            let separatorScalars = Array(separatorText.unicodeScalars)
            guard !separatorScalars.isEmpty else {
                throw ChatTemplateError(.invalidOperation, "split() separator must not be empty")
            }
            var start = 0
            var index = 0
            while index + separatorScalars.count <= scalars.count {
                if (maxSplits < 0 || splits < maxSplits)
                    && scalars[index..<(index + separatorScalars.count)].elementsEqual(separatorScalars)
                {
                    parts.append(String(String.UnicodeScalarView(scalars[start..<index])))
                    index += separatorScalars.count
                    start = index
                    splits += 1
                } else {
                    index += 1
                }
            }
            parts.append(String(String.UnicodeScalarView(scalars[start...])))
            return parts

        case let other?:
            throw ChatTemplateError(.invalidOperation, "split() separator must be a string, not '\(other.typeName)'")
        }
    }

    /// Python's `replace`: every occurrence, or the first `count` when it is not negative.
    static func replace(_ text: String, _ old: String, _ new: String, count: Int?) throws(ChatTemplateError) -> String {
        let limit = count.flatMap { $0 < 0 ? nil : $0 }
        let oldScalars = Array(old.unicodeScalars)
        let scalars = Array(text.unicodeScalars)
        // `String.UnicodeScalarView.append(contentsOf:)` took superlinear time when
        // measured with Swift 6.3, so the result is a `String` that takes `new` with `+=`.
        var result = ""
        var replaced = 0
        // Each replacement can grow the text by this much, so cap the number of replacements up front.
        let growth = max(0, new.utf8.count - old.utf8.count)
        if growth > 0 {
            let occurrences = oldScalars.isEmpty ? scalars.count + 1 : scalars.count / oldScalars.count
            let possible = min(occurrences, limit ?? occurrences)
            let (extra, overflow) = growth.multipliedReportingOverflow(by: possible)
            guard !overflow else { throw ChatTemplateError(.limitExceeded, "replace() result is too large") }
            try checkStringSize(text.utf8.count + extra)
        }

        if oldScalars.isEmpty {
            // Python inserts `new` between all scalars and at both ends.
            for scalar in scalars {
                if limit.map({ replaced < $0 }) ?? true {
                    result += new
                    replaced += 1
                }
                result.unicodeScalars.append(scalar)
            }
            if limit.map({ replaced < $0 }) ?? true {
                result += new
            }
            return result
        }

        var index = 0
        while index < scalars.count {
            let canReplace = limit.map { replaced < $0 } ?? true
            if canReplace && index + oldScalars.count <= scalars.count
                && scalars[index..<(index + oldScalars.count)].elementsEqual(oldScalars)
            {
                result += new
                index += oldScalars.count
                replaced += 1
            } else {
                result.unicodeScalars.append(scalars[index])
                index += 1
            }
        }
        return result
    }

    /// Python's `capitalize`: the first character upper case, the rest lower case.
    static func capitalize(_ text: String) -> String {
        guard let first = text.first else { return text }
        return String(first).uppercased() + text.dropFirst().lowercased()
    }

    /// Python's `str.title`: a cased character after an uncased one becomes upper case, the others lower case.
    static func pythonTitle(_ text: String) -> String {
        var result = ""
        var previousIsCased = false
        for character in text {
            let isCased = character.unicodeScalars.contains { $0.properties.isCased }
            if isCased {
                result += previousIsCased ? String(character).lowercased() : String(character).uppercased()
            } else {
                result.append(character)
            }
            previousIsCased = isCased
        }
        return result
    }

    private static func characterTest(_ name: String, _ text: String) -> Bool {
        let scalars = text.unicodeScalars
        guard !scalars.isEmpty else { return false }
        switch name {
        case "isdigit":
            return scalars.allSatisfy { $0.properties.numericType != nil && $0.properties.numericType != .numeric }
        case "isalpha":
            return scalars.allSatisfy { $0.properties.isAlphabetic }
        case "isspace":
            return scalars.allSatisfy(isPythonWhitespace)
        case "isupper":
            return scalars.contains { $0.properties.isCased } && text == text.uppercased()
        default:
            return scalars.contains { $0.properties.isCased } && text == text.lowercased()
        }
    }
}
