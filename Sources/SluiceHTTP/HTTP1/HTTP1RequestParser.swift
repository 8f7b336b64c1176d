#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A strict, incremental HTTP/1.1 request parser (RFC 9112) without I/O.
///
/// The connection passes every read to `feed(_:)` and then pulls events with
/// `nextEvent()` until it returns nil. Input may be split at any byte. Several
/// pipelined requests may arrive in one read: their bytes stay buffered, and
/// the connection may stop pulling events while it produces a response and
/// pull again afterwards. It should stop reading from the socket while
/// `shouldPauseReading` is true, which bounds the buffer.
///
/// Any violation of the grammar or of a limit throws an `HTTP1ParseError`.
/// The parser then stays failed, because after a framing error it cannot know
/// where the next request starts.
///
/// The parser keeps parsing pipelined requests after one whose head has
/// `keepAlive == false`. The connection should stop pulling events after
/// that request's `.end`, because it closes once the response is sent.
///
/// ```swift
/// parser.feed(bytesRead)
/// while let event = try parser.nextEvent() {
///     handle(event)
/// }
/// ```
public struct HTTP1RequestParser: Sendable {
    /// The part of a request that the parser expects next in the byte stream.
    internal enum State: Sendable, Equatable {
        /// The request line, after any empty lines that precede it.
        case requestLine
        /// A header field line or the blank line that ends the header section.
        case headerFields
        /// The remaining bytes of a body framed by Content-Length.
        case fixedBody(remaining: Int)
        /// A chunk-size line with optional extensions.
        case chunkSizeLine
        /// The remaining data bytes of the current chunk.
        case chunkData(remaining: Int)
        /// The CRLF that follows the data of a chunk.
        case chunkDataEnd
        /// A trailer field line or the blank line that ends the chunked body.
        case trailerFields
        /// The request is complete, and `.end` is the next event.
        case messageEnd
        /// A request was rejected. Every later call throws this error.
        case failed(HTTP1ParseError)
    }

    /// The limits this parser enforces.
    public let limits: HTTP1ParserLimits

    internal var state: State = .requestLine

    /// Received input. Bytes before `readIndex` are consumed and are dropped
    /// when `feed(_:)` compacts the buffer.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// The offset where the search for the next LF resumes, so that input
    /// arriving one byte at a time is scanned once, not once per byte.
    private var scanIndex = 0

    /// The request being parsed, from its request line to its end.
    internal var message = PartialMessage()

    public init(limits: HTTP1ParserLimits = .defaults) {
        self.limits = limits
    }

    /// The number of received bytes not yet returned as events.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Whether the connection should stop reading from its socket until it
    /// has pulled more events. True when `bufferedByteCount` reaches
    /// `limits.maxBufferedBytes` (raised to the largest line limit).
    ///
    /// Whenever `nextEvent()` returns nil this is false, so a connection that
    /// pulls all events never stalls on its own pause.
    public var shouldPauseReading: Bool {
        bufferedByteCount >= effectiveMaxBufferedBytes
    }

    /// Whether the parser is between requests with no byte of a next request
    /// received. A connection that reaches end of input in any other case
    /// lost part of a request.
    public var isBetweenMessages: Bool {
        state == .requestLine && bufferedByteCount == 0
    }

    private var effectiveMaxBufferedBytes: Int {
        max(limits.maxBufferedBytes, limits.maxRequestLineBytes, limits.maxHeaderBytes, limits.maxChunkLineBytes)
    }

    /// Appends received bytes to the input buffer. Parsing happens in `nextEvent()`.
    ///
    /// Bytes fed after a parse error are dropped.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if case .failed = state {
            return
        }

        compactBuffer()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes to the input buffer; see `feed(_:)`.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { storage in
            feed(UnsafeRawBufferPointer(storage))
        }
        if handled == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { feed($0) }
        }
    }

    /// Parses buffered input up to the next event.
    ///
    /// - Returns: the next event, or nil when the buffered input does not
    ///   complete one and more input is needed.
    /// - Throws: `HTTP1ParseError` when the request is invalid or exceeds a
    ///   limit, and again on every later call.
    public mutating func nextEvent() throws(HTTP1ParseError) -> HTTP1ParseEvent? {
        if case .failed(let error) = state {
            throw error
        }
        do throws(HTTP1ParseError) {
            return try parseNextEvent()
        } catch {
            state = .failed(error)
            buffer = []
            readIndex = 0
            scanIndex = 0
            message = PartialMessage()
            throw error
        }
    }

    /// Removes and returns the buffered input that has not been parsed.
    ///
    /// Call it after the `.end` of a request whose connection switches
    /// protocols (a WebSocket upgrade): the bytes that follow belong to the new protocol.
    public mutating func takeBufferedBytes() -> [UInt8] {
        let remaining = Array(buffer[readIndex...])
        buffer.removeAll(keepingCapacity: true)
        readIndex = 0
        scanIndex = 0
        return remaining
    }

    // MARK: - State machine

    private mutating func parseNextEvent() throws(HTTP1ParseError) -> HTTP1ParseEvent? {
        while true {
            switch state {
            case .requestLine:
                guard let line = try nextLine(maxBytes: limits.maxRequestLineBytes, kind: .requestLine) else {
                    return nil
                }
                // RFC 9112 (section 2.2) lets a server ignore empty lines
                // that precede a request line, which some clients send
                // after a request body.
                if line.isEmpty {
                    continue
                }
                try withLine(line) { (message, bytes) throws(HTTP1ParseError) in
                    try message.parseRequestLine(bytes)
                }
                state = .headerFields

            case .headerFields:
                guard let line = try nextFieldLine() else {
                    return nil
                }
                if line.isEmpty {
                    return .head(try finishHead())
                }
                try withLine(line) { [limits] (message, bytes) throws(HTTP1ParseError) in
                    try message.parseHeaderLine(bytes, limits: limits)
                }

            case .fixedBody(let remaining):
                guard let bytes = takeBodyBytes(upTo: remaining) else {
                    return nil
                }
                state = remaining == bytes.count ? .messageEnd : .fixedBody(remaining: remaining - bytes.count)
                return .body(bytes)

            case .chunkSizeLine:
                guard let line = try nextLine(maxBytes: limits.maxChunkLineBytes, kind: .chunkSizeLine) else {
                    return nil
                }
                let size = try withLine(line) { (_, bytes) throws(HTTP1ParseError) in
                    try HTTP1RequestParser.parseChunkSizeLine(bytes)
                }
                if size == 0 {
                    state = .trailerFields
                    continue
                }
                try message.addChunkedBodyBytes(size, limits: limits)
                state = .chunkData(remaining: size)

            case .chunkData(let remaining):
                guard let bytes = takeBodyBytes(upTo: remaining) else {
                    return nil
                }
                state = remaining == bytes.count ? .chunkDataEnd : .chunkData(remaining: remaining - bytes.count)
                return .body(bytes)

            case .chunkDataEnd:
                guard try consumeChunkDataEnd() else {
                    return nil
                }
                state = .chunkSizeLine

            case .trailerFields:
                guard let line = try nextFieldLine() else {
                    return nil
                }
                if line.isEmpty {
                    state = .messageEnd
                    continue
                }
                try withLine(line) { [limits] (message, bytes) throws(HTTP1ParseError) in
                    try message.parseTrailerLine(bytes, limits: limits)
                }

            case .messageEnd:
                let trailers = message.trailers
                message = PartialMessage()
                state = .requestLine
                return .end(trailers: trailers)

            case .failed(let error):
                throw error
            }
        }
    }

    /// Validates the complete header section and chooses how the body is framed.
    private mutating func finishHead() throws(HTTP1ParseError) -> HTTPRequestHead {
        let framing = try message.finishHead(limits: limits)
        switch framing {
        case .none:
            state = .messageEnd
        case .contentLength(let length):
            state = .fixedBody(remaining: length)
        case .chunked:
            state = .chunkSizeLine
        }
        return message.makeHead()
    }

    // MARK: - Input buffer

    /// Drops consumed bytes from the front of the buffer: all of them for
    /// free when everything was consumed, or with one move once they make
    /// up half of the buffer.
    private mutating func compactBuffer() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
            scanIndex = 0
        } else if readIndex > 0, readIndex >= buffer.count / 2 {
            buffer.removeSubrange(0..<readIndex)
            scanIndex -= readIndex
            readIndex = 0
        }
    }

    /// The kinds of line, which differ in the error for a line that is too long.
    private enum LineKind {
        case requestLine
        case fieldLine
        case chunkSizeLine
    }

    /// Finds the next complete line and consumes it with its CRLF.
    ///
    /// - Parameters:
    ///   - maxBytes: the maximum length of the line, including its CRLF.
    ///   - kind: the kind of line, which chooses the error when no LF comes within `maxBytes`.
    /// - Returns: the range of the line in `buffer` without its CRLF, or nil
    ///   when the buffer does not contain a whole line yet.
    private mutating func nextLine(maxBytes: Int, kind: LineKind) throws(HTTP1ParseError) -> Range<Int>? {
        let searchEnd = min(buffer.count, readIndex + maxBytes)
        guard let lineFeed = firstLineFeed(from: scanIndex, to: searchEnd) else {
            if buffer.count - readIndex >= maxBytes {
                switch kind {
                case .requestLine: throw .requestLineTooLong(limit: limits.maxRequestLineBytes)
                case .fieldLine: throw .headerSectionTooLarge(limit: limits.maxHeaderBytes)
                case .chunkSizeLine: throw .chunkLineTooLong(limit: limits.maxChunkLineBytes)
                }
            }
            scanIndex = max(scanIndex, searchEnd)
            return nil
        }

        guard lineFeed > readIndex, buffer[lineFeed - 1] == HTTP1Syntax.carriageReturn else {
            throw .bareLineFeed
        }
        let line = readIndex..<(lineFeed - 1)
        readIndex = lineFeed + 1
        scanIndex = readIndex
        return line
    }

    /// Reads the next header or trailer line within what is left of
    /// `limits.maxHeaderBytes`, and counts its bytes against that limit.
    private mutating func nextFieldLine() throws(HTTP1ParseError) -> Range<Int>? {
        let budget = limits.maxHeaderBytes - message.fieldBytes
        guard budget > 0 else {
            throw .headerSectionTooLarge(limit: limits.maxHeaderBytes)
        }
        guard let line = try nextLine(maxBytes: budget, kind: .fieldLine) else {
            return nil
        }
        message.fieldBytes += line.count + 2
        return line
    }

    private func firstLineFeed(from start: Int, to end: Int) -> Int? {
        guard start < end else { return nil }
        return buffer.withUnsafeBytes { bytes -> Int? in
            guard let base = bytes.baseAddress,
                let found = memchr(base + start, Int32(HTTP1Syntax.lineFeed), end - start)
            else {
                return nil
            }
            return base.distance(to: UnsafeRawPointer(found))
        }
    }

    /// Calls `body` with the message being parsed and the bytes of `line`.
    private mutating func withLine<Result>(
        _ line: Range<Int>,
        _ body: (inout PartialMessage, Slice<UnsafeBufferPointer<UInt8>>) throws(HTTP1ParseError) -> Result
    ) throws(HTTP1ParseError) -> Result {
        // A second reference to the storage lets `body` change `message`
        // while the bytes are borrowed, without copying them.
        let input = buffer
        return try input.withUnsafeBufferPointer { (bytes) throws(HTTP1ParseError) -> Result in
            try body(&message, bytes[line])
        }
    }

    /// Consumes up to `maxCount` buffered bytes as body data, or returns nil
    /// when none are buffered.
    private mutating func takeBodyBytes(upTo maxCount: Int) -> [UInt8]? {
        let count = min(maxCount, buffer.count - readIndex)
        guard count > 0 else { return nil }
        let bytes = Array(buffer[readIndex..<(readIndex + count)])
        readIndex += count
        scanIndex = readIndex
        return bytes
    }

    /// Consumes the CRLF after chunk data. Returns false when it has not fully arrived.
    private mutating func consumeChunkDataEnd() throws(HTTP1ParseError) -> Bool {
        let available = buffer.count - readIndex
        if available >= 1, buffer[readIndex] != HTTP1Syntax.carriageReturn {
            throw .missingChunkDataEnd
        }
        guard available >= 2 else { return false }
        guard buffer[readIndex + 1] == HTTP1Syntax.lineFeed else {
            throw .missingChunkDataEnd
        }
        readIndex += 2
        scanIndex = readIndex
        return true
    }
}
