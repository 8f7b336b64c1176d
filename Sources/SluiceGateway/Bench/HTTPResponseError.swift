/// A malformed HTTP/1.1 response or Server-Sent Events body, found by `HTTPResponseReader`.
enum HTTPResponseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first line is not `HTTP/1.x` followed by a three-digit status code.
    case invalidStatusLine
    /// A header line has no colon, an empty field name or whitespace in the name.
    case invalidHeaderLine
    /// Content-Length is not a decimal number, or two Content-Length fields disagree.
    case invalidContentLength
    /// The status line and header fields together pass `limit` bytes.
    case headTooLarge(limit: Int)
    /// A chunk-size line does not start with a hexadecimal size, or the size overflows.
    case invalidChunkSize
    /// A chunk-size line, with its extensions, passes `limit` bytes.
    case chunkLineTooLong(limit: Int)
    /// The chunk data is not followed by CRLF.
    case invalidChunkTerminator
    /// The trailer fields after the last chunk pass `limit` bytes.
    case trailersTooLarge(limit: Int)
    /// A line of the event stream passes `limit` bytes.
    case sseLineTooLong(limit: Int)

    var description: String {
        switch self {
        case .invalidStatusLine: "invalid status line: expected 'HTTP/1.x' and a three-digit status code"
        case .invalidHeaderLine: "invalid header line: expected 'name: value'"
        case .invalidContentLength: "invalid Content-Length: expected one decimal number"
        case .headTooLarge(let limit): "response head larger than \(limit) bytes"
        case .invalidChunkSize: "invalid chunk size: expected a hexadecimal number"
        case .chunkLineTooLong(let limit): "chunk-size line longer than \(limit) bytes"
        case .invalidChunkTerminator: "chunk data not followed by CRLF"
        case .trailersTooLarge(let limit): "trailer fields larger than \(limit) bytes"
        case .sseLineTooLong(let limit): "event stream line longer than \(limit) bytes"
        }
    }
}
