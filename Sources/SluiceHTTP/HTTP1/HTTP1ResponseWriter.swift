/// The delimiting of a response body on an HTTP/1.1 connection.
public enum HTTP1ResponseFraming: Sendable, Equatable {
    /// No body follows the header section: responses to HEAD, 1xx, 204 and 304.
    case noBody
    /// Exactly this many body bytes follow (`content-length`).
    case contentLength(Int)
    /// The body is sent in chunks (`transfer-encoding: chunked`).
    case chunked
    /// The body ends when the server closes the connection. Used only for
    /// HTTP/1.0 clients, which do not understand chunked, when the length is unknown.
    case untilClose
}

/// Serializes one HTTP/1.1 response into byte buffers, without I/O.
///
/// The writer owns the framing headers: it writes `content-length`,
/// `transfer-encoding` and `connection` itself and drops those fields from
/// the head it is given. Every method appends to a caller's buffer, so a
/// connection can gather a whole response, or several, into one write.
///
/// ```swift
/// var writer = HTTP1ResponseWriter(request: head)
/// writer.writeHead(HTTPResponseHead(status: 200), bodyLength: nil, into: &output)
/// writer.writeBody(ServerSentEvents.encode(data: "{}"), into: &output)
/// writer.writeEnd(into: &output)
/// if writer.mustCloseConnection { close() }
/// ```
public struct HTTP1ResponseWriter: Sendable {
    private enum State: Sendable {
        /// No final head written yet. Interim (1xx) heads may be written.
        case awaitingHead
        /// A final head was written, and body bytes may follow.
        case body(HTTP1ResponseFraming, remaining: Int)
        case complete
    }

    private let requestMethod: HTTPMethod
    private let requestVersion: HTTPVersion
    private let keepAlive: Bool
    private var state = State.awaitingHead

    /// The framing chosen by `writeHead`, or nil before a final head is written.
    public private(set) var framing: HTTP1ResponseFraming?

    /// Whether the connection must close after this response: the request or
    /// the response head requested it, the body is delimited by closing, or
    /// `writeEnd` found fewer body bytes than the announced `content-length`.
    public private(set) var mustCloseConnection: Bool

    /// Creates a writer for the response to a request.
    /// - Parameters:
    ///   - requestMethod: the request method. Responses to HEAD carry no body.
    ///   - requestVersion: the request version. HTTP/1.0 clients get no
    ///     chunked bodies and no interim responses.
    ///   - keepAlive: whether the connection stays open after this response.
    public init(requestMethod: HTTPMethod, requestVersion: HTTPVersion, keepAlive: Bool) {
        self.requestMethod = requestMethod
        self.requestVersion = requestVersion
        self.keepAlive = keepAlive
        self.mustCloseConnection = !keepAlive
    }

    /// Creates a writer for the response to `request`, keeping the connection
    /// open when `request.keepAlive` allows it.
    public init(request: HTTPRequestHead) {
        self.init(requestMethod: request.method, requestVersion: request.version, keepAlive: request.keepAlive)
    }

    /// Whether the final head and the end of the body have been written.
    public var isComplete: Bool {
        if case .complete = state {
            return true
        }
        return false
    }

    // MARK: - Head

    /// Appends the status line and header section.
    ///
    /// An informational head (1xx other than 101) is an interim response, and
    /// a final head may follow it. It is skipped for HTTP/1.0 clients, which
    /// RFC 9110 (section 15.2) forbids sending one to. After 101 Switching
    /// Protocols the response is complete and the connection belongs to the
    /// new protocol.
    ///
    /// - Parameters:
    ///   - head: the status and fields. Its `content-length`,
    ///     `transfer-encoding` and `connection` fields are replaced by the
    ///     writer's own. A `connection: close` field in it closes the connection.
    ///   - bodyLength: the body size in bytes, or nil when unknown, which
    ///     selects chunked framing (or `untilClose` for HTTP/1.0 clients). For
    ///     HEAD, the size the body would have.
    ///   - date: an IMF-fixdate for the `date` field (see `HTTPDate`), or nil
    ///     to send none. Ignored when `head` has a `date` field.
    ///   - buffer: the output to append to.
    /// - Precondition: no final head has been written, and `head.status` is a
    ///   three-digit code.
    public mutating func writeHead(
        _ head: HTTPResponseHead,
        bodyLength: Int?,
        date: String? = nil,
        into buffer: inout [UInt8]
    ) {
        guard case .awaitingHead = state else {
            preconditionFailure("writeHead called after the final response head was written")
        }
        precondition((100...999).contains(head.status), "invalid HTTP status code \(head.status)")

        if HTTPStatus.isInformational(head.status) {
            writeInformationalHead(head, into: &buffer)
            return
        }

        let framing = chooseFraming(status: head.status, bodyLength: bodyLength)
        if framing == .untilClose || head.headers.containsToken("close", in: "connection") {
            mustCloseConnection = true
        }

        appendStatusLine(head.status, into: &buffer)
        for (name, value) in head.headers where !isFramingField(name) {
            appendField(name: name, value: value, into: &buffer)
        }
        if let date, !head.headers.contains("date") {
            appendField(name: "date", value: date, into: &buffer)
        }
        appendFramingFields(framing, status: head.status, bodyLength: bodyLength, into: &buffer)
        buffer.append(contentsOf: Self.crlf)

        self.framing = framing
        switch framing {
        case .contentLength(let length):
            state = .body(framing, remaining: length)
        default:
            state = .body(framing, remaining: 0)
        }
    }

    /// Appends `100 Continue`, the interim response after which a client
    /// that sent `Expect: 100-continue` sends its body.
    public static func writeContinue(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8)
    }

    private mutating func writeInformationalHead(_ head: HTTPResponseHead, into buffer: inout [UInt8]) {
        guard requestVersion >= .http1_1 else {
            return
        }
        appendStatusLine(head.status, into: &buffer)
        for (name, value) in head.headers {
            appendField(name: name, value: value, into: &buffer)
        }
        buffer.append(contentsOf: Self.crlf)

        if head.status == 101 {
            framing = .noBody
            state = .complete
        }
    }

    private func chooseFraming(status: Int, bodyLength: Int?) -> HTTP1ResponseFraming {
        if requestMethod == .head || !HTTPStatus.allowsContent(status) {
            return .noBody
        }
        if let bodyLength {
            return .contentLength(bodyLength)
        }
        return requestVersion >= .http1_1 ? .chunked : .untilClose
    }

    private func isFramingField(_ name: String) -> Bool {
        HTTPHeaders.namesMatch(name, "content-length") || HTTPHeaders.namesMatch(name, "transfer-encoding")
            || HTTPHeaders.namesMatch(name, "connection")
    }

    private func appendFramingFields(
        _ framing: HTTP1ResponseFraming,
        status: Int,
        bodyLength: Int?,
        into buffer: inout [UInt8]
    ) {
        switch framing {
        case .contentLength(let length):
            appendContentLength(length, into: &buffer)
        case .chunked:
            buffer.append(contentsOf: "transfer-encoding: chunked\r\n".utf8)
        case .noBody:
            // A response to HEAD announces the length a GET would get.
            // 204 and 304 announce none (RFC 9110, section 8.6).
            if requestMethod == .head, HTTPStatus.allowsContent(status), let bodyLength {
                appendContentLength(bodyLength, into: &buffer)
            }
        case .untilClose:
            break
        }

        if mustCloseConnection {
            buffer.append(contentsOf: "connection: close\r\n".utf8)
        } else if requestVersion < .http1_1 {
            // HTTP/1.0 closes by default, so staying open must be announced.
            buffer.append(contentsOf: "connection: keep-alive\r\n".utf8)
        }
    }

    // MARK: - Body

    /// Appends body bytes, framed as `writeHead` chose.
    ///
    /// Empty input writes nothing, so an empty chunk, which would end a
    /// chunked body, is never sent. Nothing is written for a body-less
    /// response. Bytes past the announced `content-length` are dropped,
    /// because sending them would corrupt the next response on the connection.
    ///
    /// - Precondition: a final head has been written and `writeEnd` has not.
    public mutating func writeBody(_ bytes: UnsafeRawBufferPointer, into buffer: inout [UInt8]) {
        guard case .body(let framing, let remaining) = state else {
            preconditionFailure("writeBody called before writeHead or after writeEnd")
        }
        guard !bytes.isEmpty else { return }

        switch framing {
        case .noBody:
            break
        case .contentLength:
            assert(bytes.count <= remaining, "body longer than its content-length")
            let count = min(bytes.count, remaining)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
            state = .body(framing, remaining: remaining - count)
        case .chunked:
            appendHexadecimal(bytes.count, into: &buffer)
            buffer.append(contentsOf: Self.crlf)
            buffer.append(contentsOf: bytes)
            buffer.append(contentsOf: Self.crlf)
        case .untilClose:
            buffer.append(contentsOf: bytes)
        }
    }

    /// Appends body bytes; see `writeBody(_:into:)`.
    public mutating func writeBody(_ bytes: some Collection<UInt8>, into buffer: inout [UInt8]) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { storage in
            writeBody(UnsafeRawBufferPointer(storage), into: &buffer)
        }
        if handled == nil {
            Array(bytes).withUnsafeBytes { writeBody($0, into: &buffer) }
        }
    }

    /// Ends the response: for a chunked body, appends the last chunk and the
    /// trailer section. Trailers are dropped for other framings, which have
    /// no place for them.
    ///
    /// When a `content-length` body is shorter than announced, the client
    /// still waits for the missing bytes, so `mustCloseConnection` becomes true.
    ///
    /// - Precondition: a final head has been written and `writeEnd` has not.
    public mutating func writeEnd(trailers: HTTPHeaders? = nil, into buffer: inout [UInt8]) {
        guard case .body(let framing, let remaining) = state else {
            preconditionFailure("writeEnd called before writeHead or twice")
        }

        switch framing {
        case .chunked:
            buffer.append(contentsOf: "0\r\n".utf8)
            for (name, value) in trailers ?? HTTPHeaders() {
                appendField(name: name, value: value, into: &buffer)
            }
            buffer.append(contentsOf: Self.crlf)
        case .contentLength where remaining > 0:
            mustCloseConnection = true
        default:
            break
        }
        state = .complete
    }

    /// Appends a complete response with a body of known length.
    public mutating func writeResponse(
        _ head: HTTPResponseHead,
        body: some Collection<UInt8>,
        date: String? = nil,
        into buffer: inout [UInt8]
    ) {
        writeHead(head, bodyLength: body.count, date: date, into: &buffer)
        writeBody(body, into: &buffer)
        writeEnd(into: &buffer)
    }

    // MARK: - Serialization

    private static let crlf: [UInt8] = [UInt8(ascii: "\r"), UInt8(ascii: "\n")]

    /// Appends `HTTP/1.1 <status> <reason>\r\n`. A server sends its own version,
    /// 1.1, also to HTTP/1.0 clients (RFC 9110, section 6.2).
    private func appendStatusLine(_ status: Int, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: "HTTP/1.1 ".utf8)
        buffer.append(UInt8(ascii: "0") + UInt8(status / 100))
        buffer.append(UInt8(ascii: "0") + UInt8(status / 10 % 10))
        buffer.append(UInt8(ascii: "0") + UInt8(status % 10))
        buffer.append(UInt8(ascii: " "))
        buffer.append(contentsOf: HTTPStatus.reasonPhrase(for: status).utf8)
        buffer.append(contentsOf: Self.crlf)
    }

    /// Appends `name: value\r\n`. CR, LF and NUL in the name or value become
    /// spaces, so that no value can end the field early and inject fields or
    /// a response of its own (response splitting).
    private func appendField(name: String, value: String, into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: name.utf8)
        buffer.append(UInt8(ascii: ":"))
        buffer.append(UInt8(ascii: " "))
        buffer.append(contentsOf: value.utf8)
        buffer.withUnsafeMutableBufferPointer { bytes in
            for index in start..<bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") || byte == 0 {
                    bytes[index] = UInt8(ascii: " ")
                }
            }
        }
        buffer.append(contentsOf: Self.crlf)
    }

    private func appendContentLength(_ length: Int, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: "content-length: ".utf8)
        appendDecimal(length, into: &buffer)
        buffer.append(contentsOf: Self.crlf)
    }

    private func appendDecimal(_ value: Int, into buffer: inout [UInt8]) {
        precondition(value >= 0, "negative body length \(value)")
        var divisor = 1
        while divisor <= value / 10 {
            divisor *= 10
        }
        var remainder = value
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(remainder / divisor))
            remainder %= divisor
            divisor /= 10
        }
    }

    private func appendHexadecimal(_ value: Int, into buffer: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        var shift = 0
        while shift + 4 < Int.bitWidth, value >> (shift + 4) != 0 {
            shift += 4
        }
        while shift >= 0 {
            buffer.append(digits.utf8Start[(value >> shift) & 0xF])
            shift -= 4
        }
    }
}
