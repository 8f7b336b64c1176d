/// Encodes newline-delimited JSON streams, one JSON document per line, as
/// the native `/v1/generate` endpoint streams them.
public enum NDJSON {
    /// The media type of an NDJSON stream.
    public static let contentType = "application/x-ndjson"

    /// Encodes one JSON document as a line; see `appendLine(_:into:)`.
    public static func encodeLine(_ json: String) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(json.utf8.count + 1)
        appendLine(json, into: &buffer)
        return buffer
    }

    /// Appends one JSON document followed by LF.
    ///
    /// A CR or LF inside `json` becomes a space, so that pretty-printed JSON
    /// still takes one line. Valid JSON stays valid and equal, because JSON
    /// allows raw line breaks only as whitespace between tokens, never inside
    /// strings.
    public static func appendLine(_ json: String, into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: json.utf8)
        for index in start..<buffer.count where buffer[index] == UInt8(ascii: "\n") || buffer[index] == UInt8(ascii: "\r") {
            buffer[index] = UInt8(ascii: " ")
        }
        buffer.append(UInt8(ascii: "\n"))
    }
}
