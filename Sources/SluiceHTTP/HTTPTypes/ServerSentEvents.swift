/// Encodes Server-Sent Events, the `text/event-stream` format of the WHATWG
/// HTML standard that OpenAI's streaming responses use.
///
/// The encoders end every line with LF. Line breaks inside values are handled
/// so that a client reads back exactly the fields that were encoded.
public enum ServerSentEvents {
    /// The media type of an event stream.
    public static let contentType = "text/event-stream"

    /// Encodes one event.
    /// - Parameters:
    ///   - data: the event data. Each line (split at CRLF, CR or LF) becomes
    ///     its own `data:` field, and a client joins them back with LF.
    ///   - event: the event type, or nil for the default `message` type.
    ///   - id: the event ID, or nil to send none.
    /// - Returns: the event's fields followed by the blank line that ends it.
    public static func encode(data: String, event: String? = nil, id: String? = nil) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(data.utf8.count + 16)
        append(data: data, event: event, id: id, into: &buffer)
        return buffer
    }

    /// Appends one event to `buffer`; see `encode(data:event:id:)`.
    ///
    /// Line breaks cannot appear inside the `event` and `id` fields, so they
    /// are removed from those values, and so is NUL from `id` because clients
    /// ignore an ID that contains it.
    public static func append(data: String, event: String? = nil, id: String? = nil, into buffer: inout [UInt8]) {
        if let event {
            appendSingleLineField("event", event, removingNUL: false, into: &buffer)
        }
        if let id {
            appendSingleLineField("id", id, removingNUL: true, into: &buffer)
        }
        appendMultilineField("data", data, into: &buffer)
        buffer.append(UInt8(ascii: "\n"))
    }

    /// Appends a comment that clients ignore, such as a keep-alive ping that
    /// stops proxies from closing an idle stream. Each line of `text` becomes
    /// its own comment line.
    public static func appendComment(_ text: String, into buffer: inout [UInt8]) {
        appendMultilineField("", text, into: &buffer)
        buffer.append(UInt8(ascii: "\n"))
    }

    /// Appends `name: line\n` for each line of `value`. The space after the
    /// colon is there because clients drop exactly one leading space, so a
    /// line that starts with a space keeps it.
    private static func appendMultilineField(_ name: String, _ value: String, into buffer: inout [UInt8]) {
        value.utf8.withContiguousStorageIfAvailable { bytes in
            appendLines(name, UnsafeRawBufferPointer(bytes), into: &buffer)
        } ?? {
            var copy = value
            copy.withUTF8 { appendLines(name, UnsafeRawBufferPointer($0), into: &buffer) }
        }()
    }

    private static func appendLines(_ name: String, _ bytes: UnsafeRawBufferPointer, into buffer: inout [UInt8]) {
        var lineStart = 0
        var index = 0
        while true {
            let atEnd = index == bytes.count
            let byte = atEnd ? 0 : bytes[index]
            if atEnd || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                buffer.append(contentsOf: name.utf8)
                buffer.append(contentsOf: ": ".utf8)
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index]))
                buffer.append(UInt8(ascii: "\n"))
                if atEnd {
                    return
                }
                // CRLF is one line break, not two.
                if byte == UInt8(ascii: "\r"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") {
                    index += 1
                }
                lineStart = index + 1
            }
            index += 1
        }
    }

    private static func appendSingleLineField(
        _ name: String,
        _ value: String,
        removingNUL: Bool,
        into buffer: inout [UInt8]
    ) {
        buffer.append(contentsOf: name.utf8)
        buffer.append(contentsOf: ": ".utf8)
        for byte in value.utf8 {
            let isLineBreak = byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
            if isLineBreak || (removingNUL && byte == 0) {
                continue
            }
            buffer.append(byte)
        }
        buffer.append(UInt8(ascii: "\n"))
    }
}
