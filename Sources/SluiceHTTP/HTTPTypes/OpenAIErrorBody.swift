/// Encodes the OpenAI error object that every HTTP error response of the
/// gateway carries:
/// `{"error":{"message":…,"type":…,"param":…,"code":…}}`.
public enum OpenAIErrorBody {
    /// The media type of the encoded body.
    public static let contentType = "application/json"

    /// Encodes an error object.
    /// - Parameters:
    ///   - message: a sentence that states what failed and what to do.
    ///   - type: OpenAI's error category, such as `invalid_request_error`.
    ///   - param: the request field the error is about, or nil.
    ///   - code: the stable snake_case name of the error, or nil.
    public static func encode(
        message: String,
        type: String = "invalid_request_error",
        param: String? = nil,
        code: String?
    ) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(message.utf8.count + 96)
        append(message: message, type: type, param: param, code: code, into: &buffer)
        return buffer
    }

    /// Appends an error object to `buffer`; see `encode(message:type:param:code:)`.
    public static func append(
        message: String,
        type: String = "invalid_request_error",
        param: String? = nil,
        code: String?,
        into buffer: inout [UInt8]
    ) {
        buffer.append(contentsOf: #"{"error":{"message":"#.utf8)
        appendJSONString(message, into: &buffer)
        buffer.append(contentsOf: #","type":"#.utf8)
        appendJSONString(type, into: &buffer)
        buffer.append(contentsOf: #","param":"#.utf8)
        appendJSONStringOrNull(param, into: &buffer)
        buffer.append(contentsOf: #","code":"#.utf8)
        appendJSONStringOrNull(code, into: &buffer)
        buffer.append(contentsOf: "}}".utf8)
    }

    private static func appendJSONStringOrNull(_ text: String?, into buffer: inout [UInt8]) {
        if let text {
            appendJSONString(text, into: &buffer)
        } else {
            buffer.append(contentsOf: "null".utf8)
        }
    }

    /// Appends `text` as a quoted JSON string, escaping quotes, backslashes
    /// and control characters (RFC 8259, section 7).
    internal static func appendJSONString(_ text: String, into buffer: inout [UInt8]) {
        let hexDigits = Array("0123456789abcdef".utf8)
        buffer.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""):
                buffer.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"):
                buffer.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"):
                buffer.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"):
                buffer.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"):
                buffer.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                buffer.append(contentsOf: #"\u00"#.utf8)
                buffer.append(hexDigits[Int(byte >> 4)])
                buffer.append(hexDigits[Int(byte & 0x0F)])
            default:
                buffer.append(byte)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }
}
