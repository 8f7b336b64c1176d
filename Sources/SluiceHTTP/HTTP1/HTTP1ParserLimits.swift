/// Size limits that `HTTP1RequestParser` enforces on each request.
public struct HTTP1ParserLimits: Sendable, Equatable {
    /// The maximum length of the request line in bytes, including its CRLF.
    /// A longer request line is rejected with 414 URI Too Long.
    public var maxRequestLineBytes: Int

    /// The maximum size in bytes of the header section, from the first field
    /// line through the blank line that ends it, plus any trailer section of a
    /// chunked body. A larger section is rejected with 431.
    public var maxHeaderBytes: Int

    /// The maximum number of field lines in the header and trailer sections
    /// together. More are rejected with 431.
    public var maxHeaderCount: Int

    /// The maximum body size in bytes, after chunked decoding. A larger body
    /// is rejected with 413 Content Too Large, and a `Content-Length` above it
    /// is rejected as soon as the header section ends, before any body is read.
    public var maxBodyBytes: Int

    /// The maximum length in bytes of one chunk-size line of a chunked body,
    /// including chunk extensions and the CRLF. A longer line is rejected with 400.
    public var maxChunkLineBytes: Int

    /// The amount of received but not yet parsed input, in bytes, at which
    /// `HTTP1RequestParser.shouldPauseReading` turns true. Pipelined requests
    /// wait in this buffer while the connection produces earlier responses.
    ///
    /// The parser raises it to at least the largest single line that it must
    /// hold at once (`maxRequestLineBytes`, `maxHeaderBytes`,
    /// `maxChunkLineBytes`), so that a pause can never wait on input that the
    /// pause itself holds back.
    public var maxBufferedBytes: Int

    public init(
        maxRequestLineBytes: Int = 8192,
        maxHeaderBytes: Int = 32768,
        maxHeaderCount: Int = 100,
        maxBodyBytes: Int = 4 << 20,
        maxChunkLineBytes: Int = 4096,
        maxBufferedBytes: Int = 65536
    ) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkLineBytes = maxChunkLineBytes
        self.maxBufferedBytes = maxBufferedBytes
    }

    /// 8 KiB request line, 32 KiB and 100 fields of headers, 4 MiB of body,
    /// 4 KiB chunk-size lines and 64 KiB of buffered input.
    public static let defaults = HTTP1ParserLimits()
}
