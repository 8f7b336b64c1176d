/// A request that `HTTP1RequestParser` rejected, with the status to reply with.
///
/// After an error the parser stays failed: the connection sends the error
/// response (see `HTTP1ResponseWriter.writeErrorResponse(for:into:)`) and
/// closes, because the position of the next request in the byte stream is unknown.
public struct HTTP1ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The response status: 400, 413, 414, 417, 431, 501 or 505.
    public let status: Int

    /// The stable snake_case name of the error, used as a metric label and in
    /// the `code` field of the error body.
    public let code: String

    /// A sentence that states what is wrong with the request.
    public let message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status) \(code): \(message)" }
}

// The errors the parser raises, one factory per code.
extension HTTP1ParseError {
    // MARK: Request line

    static let invalidRequestLine = HTTP1ParseError(
        status: 400,
        code: "invalid_request_line",
        message: "The request line is invalid: it must be a method, one space, a request-target, one space "
            + "and an HTTP version such as HTTP/1.1, followed by CRLF."
    )

    static let invalidMethod = HTTP1ParseError(
        status: 400,
        code: "invalid_method",
        message: "The request method contains a character that is not allowed in an HTTP token."
    )

    static func invalidRequestTarget(_ reason: String) -> HTTP1ParseError {
        HTTP1ParseError(status: 400, code: "invalid_request_target", message: "The request-target is invalid: \(reason).")
    }

    static func invalidVersion(_ version: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "invalid_http_version",
            message: "The HTTP version '\(version)' is invalid. Send HTTP/1.1 or HTTP/1.0."
        )
    }

    static func unsupportedVersion(_ version: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 505,
            code: "http_version_not_supported",
            message: "HTTP version \(version) is not supported on this connection. Use HTTP/1.1 or HTTP/1.0."
        )
    }

    static func requestLineTooLong(limit: Int) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 414,
            code: "request_line_too_long",
            message: "The request line is longer than the limit of \(limit) bytes. Shorten the URL."
        )
    }

    // MARK: Lines and fields

    static let bareLineFeed = HTTP1ParseError(
        status: 400,
        code: "bare_line_feed",
        message: "A line ends with LF alone, but HTTP/1.1 requires CRLF line endings."
    )

    static let obsoleteLineFolding = HTTP1ParseError(
        status: 400,
        code: "obsolete_line_folding",
        message: "A header line starts with a space or tab, but folded header values are not allowed."
    )

    static func missingColon(_ line: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "invalid_header_line",
            message: "The header line '\(line)' has no colon. Send header lines as 'name: value'."
        )
    }

    static func invalidHeaderName(_ name: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "invalid_header_name",
            message: "The header name '\(name)' is empty or contains a character that is not allowed in an HTTP token."
        )
    }

    static func whitespaceBeforeColon(_ name: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "whitespace_before_colon",
            message: "The header name '\(name)' is followed by whitespace before the colon, which is not allowed."
        )
    }

    static func invalidHeaderValue(_ name: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "invalid_header_value",
            message: "The value of header '\(name)' contains a control character such as NUL, CR or LF."
        )
    }

    static func headerSectionTooLarge(limit: Int) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 431,
            code: "header_section_too_large",
            message: "The header section is larger than the limit of \(limit) bytes."
        )
    }

    static func tooManyHeaders(limit: Int) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 431,
            code: "too_many_headers",
            message: "The request has more than the limit of \(limit) header fields."
        )
    }

    // MARK: Host and Expect

    static let missingHost = HTTP1ParseError(
        status: 400,
        code: "missing_host",
        message: "The Host header is missing, but HTTP/1.1 requests must include one."
    )

    static let multipleHosts = HTTP1ParseError(
        status: 400,
        code: "multiple_hosts",
        message: "The request has more than one Host header. Send exactly one."
    )

    static func invalidHost(_ value: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "invalid_host",
            message: "The Host header '\(value)' is not a valid host with an optional port."
        )
    }

    static func unsupportedExpectation(_ value: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 417,
            code: "unsupported_expectation",
            message: "The expectation '\(value)' is not supported. Only Expect: 100-continue is."
        )
    }

    // MARK: Body framing

    static func invalidContentLength(_ value: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "invalid_content_length",
            message: "The Content-Length '\(value)' is invalid. It must be a decimal number of bytes."
        )
    }

    static let conflictingContentLengths = HTTP1ParseError(
        status: 400,
        code: "conflicting_content_lengths",
        message: "The request has several Content-Length values that differ. Send exactly one."
    )

    static let conflictingLengthHeaders = HTTP1ParseError(
        status: 400,
        code: "conflicting_length_headers",
        message: "Content-Length and Transfer-Encoding must not both be present."
    )

    static let transferEncodingInHTTP10 = HTTP1ParseError(
        status: 400,
        code: "transfer_encoding_in_http10",
        message: "Transfer-Encoding is not allowed in an HTTP/1.0 request. Send Content-Length instead."
    )

    static let chunkedNotFinal = HTTP1ParseError(
        status: 400,
        code: "chunked_not_final",
        message: "The final Transfer-Encoding must be chunked, and chunked may appear only once."
    )

    static func unsupportedTransferEncoding(_ coding: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 501,
            code: "unsupported_transfer_encoding",
            message: "The transfer coding '\(coding)' is not supported. Only chunked is."
        )
    }

    static func bodyTooLarge(limit: Int) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 413,
            code: "payload_too_large",
            message: "The request body is larger than the limit of \(limit) bytes."
        )
    }

    // MARK: Chunked body

    static func invalidChunkSize(_ line: String) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "invalid_chunk_size",
            message: "The chunk-size line '\(line)' is invalid. It must be hexadecimal digits, "
                + "then optional ';' extensions, then CRLF."
        )
    }

    static let chunkSizeOverflow = HTTP1ParseError(
        status: 400,
        code: "invalid_chunk_size",
        message: "A chunk size has too many hexadecimal digits to be a valid size."
    )

    static func chunkLineTooLong(limit: Int) -> HTTP1ParseError {
        HTTP1ParseError(
            status: 400,
            code: "chunk_line_too_long",
            message: "A chunk-size line is longer than the limit of \(limit) bytes."
        )
    }

    static let missingChunkDataEnd = HTTP1ParseError(
        status: 400,
        code: "missing_chunk_data_crlf",
        message: "The data of a chunk is not followed by CRLF, so the chunk size does not match its data."
    )
}
