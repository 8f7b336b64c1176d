#if canImport(Glibc)
import Glibc
#endif

/// An incremental reader of one HTTP/1.1 response to a streaming request, with no I/O.
///
/// Feed it the bytes of a connection as they arrive, in pieces of any size. It
/// reads the status line and the header fields, then decodes a body delimited
/// by chunked transfer coding (with chunk extensions and trailer fields), by
/// Content-Length or by the connection closing. The body of a 200 response
/// goes to an `SSETokenCounter`, and the bodies of other responses are
/// skipped. Interim 1xx responses are skipped too. Bytes after the end of the
/// response are ignored, because the client sends its next request only once
/// a response has ended. Call `reset()` before the next response.
struct HTTPResponseReader: Sendable {
    /// The result of one `feed`.
    struct Progress: Equatable, Sendable {
        /// Token events completed in this piece.
        var tokens = 0
        /// Whether an event with `data: [DONE]` completed in this piece.
        var sawDone = false
        /// Whether the response has ended, with this piece or before.
        var isComplete = false
    }

    /// The way the end of the body is found.
    enum BodyFraming: Equatable, Sendable {
        /// No body: 204 and 304 responses.
        case none
        case contentLength(Int)
        case chunked
        /// The body ends when the server closes the connection.
        case untilClose
    }

    /// Maximum size of the status line and header fields together. The trailer fields have the same limit.
    static let maxHeadBytes = 64 << 10
    /// Maximum length of a chunk-size line, chunk extensions included.
    static let maxChunkLineBytes = 4096

    private enum State: Equatable {
        case statusLine
        case headerLines
        case contentBody(remaining: Int)
        case closeDelimitedBody
        case chunkSizeLine
        case chunkData(remaining: Int)
        /// After a chunk's data: `sawCR` is true once the CR of its CRLF has arrived.
        case chunkDataEnd(sawCR: Bool)
        case trailerLines
        case complete
    }

    /// The status code, or 0 before the status line has been read.
    private(set) var statusCode = 0
    /// Whether the connection may carry another request after this response.
    private(set) var keepAlive = true
    /// The body's framing, or nil before the header fields have been read.
    private(set) var framing: BodyFraming?

    private var state = State.statusLine
    private var httpMinorVersion = 1
    private var isChunked = false
    private var contentLength: Int?
    private var connectionClose = false
    private var connectionKeepAlive = false
    /// Bytes of the head, or of the trailer fields, read so far.
    private var fieldBytes = 0
    /// The start of a framing line (status, header, chunk size or trailer) that did not end in the previous feed.
    private var partialLine: [UInt8] = []
    private var events = SSETokenCounter()

    init() {}

    /// Whether the response has ended.
    var isComplete: Bool { state == .complete }

    /// Prepares for the next response on the same connection, keeping the buffers' capacity.
    mutating func reset() {
        statusCode = 0
        keepAlive = true
        framing = nil
        state = .statusLine
        resetHead()
        events.reset()
    }

    private mutating func resetHead() {
        httpMinorVersion = 1
        isChunked = false
        contentLength = nil
        connectionClose = false
        connectionKeepAlive = false
        fieldBytes = 0
        partialLine.removeAll(keepingCapacity: true)
    }

    /// Reads the next bytes of the connection.
    /// - Returns: the token events that `input` completed and whether the response has ended.
    /// - Throws: `HTTPResponseError` for malformed input. The reader is then unusable until `reset()`.
    mutating func feed(_ input: UnsafeRawBufferPointer) throws(HTTPResponseError) -> Progress {
        var eventProgress = SSETokenCounter.Progress()
        var position = 0
        while position < input.count && state != .complete {
            switch state {
            case .statusLine, .headerLines, .chunkSizeLine, .trailerLines:
                try readFramingLine(input, position: &position)

            case .contentBody(let remaining):
                let take = min(remaining, input.count - position)
                try feedBody(UnsafeRawBufferPointer(rebasing: input[position..<(position + take)]), &eventProgress)
                position += take
                state = remaining == take ? .complete : .contentBody(remaining: remaining - take)

            case .closeDelimitedBody:
                try feedBody(UnsafeRawBufferPointer(rebasing: input[position...]), &eventProgress)
                position = input.count

            case .chunkData(let remaining):
                let take = min(remaining, input.count - position)
                try feedBody(UnsafeRawBufferPointer(rebasing: input[position..<(position + take)]), &eventProgress)
                position += take
                state = remaining == take ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining - take)

            case .chunkDataEnd(let sawCR):
                let byte = input[position]
                position += 1
                if byte == 0x0D && !sawCR {
                    state = .chunkDataEnd(sawCR: true)
                } else if byte == 0x0A {
                    state = .chunkSizeLine
                } else {
                    throw .invalidChunkTerminator
                }

            case .complete:
                break
            }
        }
        return Progress(tokens: eventProgress.tokens, sawDone: eventProgress.sawDone, isComplete: isComplete)
    }

    /// Reads `bytes`, for tests and small inputs.
    mutating func feed(_ bytes: [UInt8]) throws(HTTPResponseError) -> Progress {
        var result: Result<Progress, HTTPResponseError> = .success(Progress())
        bytes.withUnsafeBytes { buffer in
            do throws(HTTPResponseError) {
                result = .success(try feed(buffer))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// Tells the reader that the server closed the connection.
    /// - Returns: whether that ended the response, which is the case only for a body delimited by the close.
    mutating func finishAtEndOfInput() -> Bool {
        if state == .closeDelimitedBody {
            state = .complete
        }
        return isComplete
    }

    private mutating func feedBody(
        _ body: UnsafeRawBufferPointer, _ progress: inout SSETokenCounter.Progress
    ) throws(HTTPResponseError) {
        guard statusCode == 200 else { return }
        try events.feed(body, into: &progress)
    }

    // MARK: Framing lines

    /// Reads up to the next LF and processes the line, or keeps the partial line when the input ends first.
    private mutating func readFramingLine(
        _ input: UnsafeRawBufferPointer, position: inout Int
    ) throws(HTTPResponseError) {
        let base = input.baseAddress!
        let remaining = input.count - position
        guard let newline = memchr(base + position, 0x0A, remaining) else {
            try checkLineLength(partialLine.count + remaining)
            partialLine.append(contentsOf: UnsafeRawBufferPointer(start: base + position, count: remaining))
            position = input.count
            return
        }
        let end = UnsafeRawPointer(newline) - base
        let piece = UnsafeRawBufferPointer(start: base + position, count: end - position)
        position = end + 1
        try checkLineLength(partialLine.count + piece.count + 1)
        if partialLine.isEmpty {
            try processFramingLine(piece)
            return
        }

        // Moved out of `self` so that processFramingLine may mutate `self` while it reads the line.
        var line: [UInt8] = []
        swap(&line, &partialLine)
        line.append(contentsOf: piece)
        var failure: HTTPResponseError?
        line.withUnsafeBytes { bytes in
            do throws(HTTPResponseError) {
                try processFramingLine(bytes)
            } catch {
                failure = error
            }
        }
        line.removeAll(keepingCapacity: true)
        swap(&line, &partialLine)
        if let failure {
            throw failure
        }
    }

    /// Checks a line of `length` bytes, its LF included, against the limit of the current state.
    private func checkLineLength(_ length: Int) throws(HTTPResponseError) {
        switch state {
        case .statusLine, .headerLines:
            guard fieldBytes + length <= Self.maxHeadBytes else { throw .headTooLarge(limit: Self.maxHeadBytes) }
        case .trailerLines:
            guard fieldBytes + length <= Self.maxHeadBytes else { throw .trailersTooLarge(limit: Self.maxHeadBytes) }
        default:
            guard length <= Self.maxChunkLineBytes else { throw .chunkLineTooLong(limit: Self.maxChunkLineBytes) }
        }
    }

    private mutating func processFramingLine(_ rawLine: UnsafeRawBufferPointer) throws(HTTPResponseError) {
        var line = rawLine
        if let last = line.last, last == 0x0D {
            line = UnsafeRawBufferPointer(rebasing: line.dropLast())
        }
        switch state {
        case .statusLine:
            fieldBytes += rawLine.count + 1
            try parseStatusLine(line)
            state = .headerLines
        case .headerLines:
            fieldBytes += rawLine.count + 1
            if line.isEmpty {
                endHead()
            } else {
                try parseHeaderLine(line)
            }
        case .chunkSizeLine:
            let size = try Self.parseChunkSize(line)
            if size == 0 {
                fieldBytes = 0
                state = .trailerLines
            } else {
                state = .chunkData(remaining: size)
            }
        case .trailerLines:
            fieldBytes += rawLine.count + 1
            if line.isEmpty {
                state = .complete
            }
        default:
            break
        }
    }

    // MARK: Head

    /// Parses `HTTP/1.x SSS reason`; the reason phrase may be missing.
    private mutating func parseStatusLine(_ line: UnsafeRawBufferPointer) throws(HTTPResponseError) {
        guard line.count >= 12, line.prefix(7).elementsEqual("HTTP/1.".utf8),
            Self.isDigit(line[7]), line[8] == 0x20,
            Self.isDigit(line[9]), Self.isDigit(line[10]), Self.isDigit(line[11]),
            line.count == 12 || line[12] == 0x20
        else {
            throw .invalidStatusLine
        }
        httpMinorVersion = Int(line[7] - 0x30)
        statusCode = Int(line[9] - 0x30) * 100 + Int(line[10] - 0x30) * 10 + Int(line[11] - 0x30)
    }

    private mutating func parseHeaderLine(_ line: UnsafeRawBufferPointer) throws(HTTPResponseError) {
        guard let colon = line.firstIndex(of: 0x3A), colon > 0 else { throw .invalidHeaderLine }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        guard !name.contains(where: { $0 == 0x20 || $0 == 0x09 }) else { throw .invalidHeaderLine }
        let value = Self.trimmingWhitespace(UnsafeRawBufferPointer(rebasing: line[(colon + 1)...]))

        if Self.equalsIgnoringCase(name, "transfer-encoding") {
            if Self.containsToken(value, "chunked") {
                isChunked = true
            }
        } else if Self.equalsIgnoringCase(name, "content-length") {
            guard let length = Self.parseDecimal(value), contentLength == nil || contentLength == length else {
                throw .invalidContentLength
            }
            contentLength = length
        } else if Self.equalsIgnoringCase(name, "connection") {
            if Self.containsToken(value, "close") {
                connectionClose = true
            }
            if Self.containsToken(value, "keep-alive") {
                connectionKeepAlive = true
            }
        }
    }

    /// Chooses the body's framing once the blank line after the header fields has arrived.
    private mutating func endHead() {
        if (100..<200).contains(statusCode) {
            // An interim response (such as 100 Continue): the final response follows.
            statusCode = 0
            resetHead()
            state = .statusLine
            return
        }

        keepAlive = httpMinorVersion == 0 ? connectionKeepAlive && !connectionClose : !connectionClose
        if statusCode == 204 || statusCode == 304 {
            framing = BodyFraming.none
            state = .complete
        } else if isChunked {
            // Chunked transfer coding overrides Content-Length (RFC 9112, section 6.3).
            framing = .chunked
            state = .chunkSizeLine
        } else if let contentLength {
            framing = .contentLength(contentLength)
            state = contentLength == 0 ? .complete : .contentBody(remaining: contentLength)
        } else {
            framing = .untilClose
            keepAlive = false
            state = .closeDelimitedBody
        }
    }

    // MARK: Byte helpers

    /// Parses `hex-digits [whitespace] [; extensions]`.
    private static func parseChunkSize(_ line: UnsafeRawBufferPointer) throws(HTTPResponseError) -> Int {
        var size = 0
        var digits = 0
        var index = 0
        while index < line.count, let digit = hexValue(line[index]) {
            // Fifteen hex digits fit in Int; more would overflow.
            guard digits < 15 else { throw .invalidChunkSize }
            size = size << 4 | digit
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw .invalidChunkSize }
        while index < line.count && (line[index] == 0x20 || line[index] == 0x09) {
            index += 1
        }
        guard index == line.count || line[index] == 0x3B else { throw .invalidChunkSize }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: Int(byte - 0x30)
        case 0x41...0x46: Int(byte - 0x41 + 10)
        case 0x61...0x66: Int(byte - 0x61 + 10)
        default: nil
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    /// Parses one non-negative decimal number of at most 18 digits.
    private static func parseDecimal(_ text: UnsafeRawBufferPointer) -> Int? {
        guard !text.isEmpty, text.count <= 18, text.allSatisfy(isDigit) else { return nil }
        return text.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    private static func trimmingWhitespace(_ text: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = text.count
        while start < end && (text[start] == 0x20 || text[start] == 0x09) {
            start += 1
        }
        while end > start && (text[end - 1] == 0x20 || text[end - 1] == 0x09) {
            end -= 1
        }
        return UnsafeRawBufferPointer(rebasing: text[start..<end])
    }

    /// Compares ASCII bytes with a lowercase name, ignoring the bytes' case.
    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        return zip(bytes, expected).allSatisfy { byte, lower in
            let folded = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
            return folded == lower
        }
    }

    /// Checks whether a comma-separated field value lists `token`, ignoring case and whitespace.
    private static func containsToken(_ value: UnsafeRawBufferPointer, _ token: StaticString) -> Bool {
        var start = 0
        while start <= value.count {
            let end = value[start...].firstIndex(of: 0x2C) ?? value.count
            let element = trimmingWhitespace(UnsafeRawBufferPointer(rebasing: value[start..<end]))
            if equalsIgnoringCase(element, token) {
                return true
            }
            start = end + 1
        }
        return false
    }
}
