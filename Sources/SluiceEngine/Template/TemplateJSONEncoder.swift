/// Encodes template values as JSON for the `tojson` filter.
///
/// The output matches Python's `json.dumps(value, ensure_ascii=False)`, which
/// is what Hugging Face's chat templates use for `tojson`: `", "` and `": "`
/// between items, or one item per line with `indent`. Unlike Jinja's own
/// `tojson`, it does not escape `<`, `>`, `&` and `'` for HTML.
enum TemplateJSONEncoder {
    static func encode(_ value: TemplateValue, indent: Int?) throws(ChatTemplateError) -> String {
        var output = ""
        try write(value, indent: indent.map { String(repeating: " ", count: max(0, $0)) }, level: 0, into: &output)
        return output
    }

    /// Nesting deeper than this is rejected; template values cannot form cycles, so only a huge literal gets here.
    private static let maxDepth = 256

    private static func write(_ value: TemplateValue, indent: String?, level: Int, into output: inout String) throws(ChatTemplateError) {
        guard level <= maxDepth else {
            throw ChatTemplateError(.limitExceeded, "value nests more than \(maxDepth) levels deep for tojson")
        }
        switch value {
        case .none:
            output += "null"
        case .boolean(let flag):
            output += flag ? "true" : "false"
        case .integer(let number):
            output += String(number)
        case .float(let number):
            if number.isNaN {
                output += "NaN"
            } else if number.isInfinite {
                output += number < 0 ? "-Infinity" : "Infinity"
            } else {
                output += TemplateValue.pythonFloatText(number)
            }
        case .string(let text):
            writeString(text, into: &output)
        case .list(let values):
            try writeContainer(values, open: "[", close: "]", indent: indent, level: level, into: &output) {
                element, output throws(ChatTemplateError) in
                try write(element, indent: indent, level: level + 1, into: &output)
            }
        case .dictionary(let dictionary):
            try writeContainer(dictionary.entries, open: "{", close: "}", indent: indent, level: level, into: &output) {
                entry, output throws(ChatTemplateError) in
                writeString(try keyText(entry.key), into: &output)
                output += ": "
                try write(entry.value, indent: indent, level: level + 1, into: &output)
            }
        case .undefined(let name):
            throw ChatTemplateError(.undefined, "'\(name)' is undefined and cannot be converted to JSON")
        case .namespace, .function, .macro:
            throw ChatTemplateError(.invalidOperation, "a '\(value.typeName)' value cannot be converted to JSON")
        }
    }

    private static func writeContainer<Element>(
        _ elements: [Element],
        open: String,
        close: String,
        indent: String?,
        level: Int,
        into output: inout String,
        writeElement: (Element, inout String) throws(ChatTemplateError) -> Void
    ) throws(ChatTemplateError) {
        output += open
        guard !elements.isEmpty else {
            output += close
            return
        }
        for (position, element) in elements.enumerated() {
            if let indent {
                output += position == 0 ? "\n" : ",\n"
                output += String(repeating: indent, count: level + 1)
            } else if position > 0 {
                output += ", "
            }
            try writeElement(element, &output)
        }
        if let indent {
            output += "\n" + String(repeating: indent, count: level)
        }
        output += close
    }

    /// Python's JSON object keys: strings as they are, and numbers, booleans and None spelled as JSON.
    private static func keyText(_ key: TemplateValue) throws(ChatTemplateError) -> String {
        switch key {
        case .string(let text): return text
        case .integer(let number): return String(number)
        case .float(let number): return TemplateValue.pythonFloatText(number)
        case .boolean(let flag): return flag ? "true" : "false"
        case .none: return "null"
        default:
            throw ChatTemplateError(.invalidOperation, "a '\(key.typeName)' key cannot be converted to JSON")
        }
    }

    private static func writeString(_ text: String, into output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{8}": output += "\\b"
            case "\u{C}": output += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}
