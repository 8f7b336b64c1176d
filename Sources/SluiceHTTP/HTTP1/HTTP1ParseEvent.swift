/// One step of a parsed request, returned by `HTTP1RequestParser.nextEvent()`.
///
/// Every request produces one `head`, zero or more `body` events, then one
/// `end`, and the events of the next pipelined request follow only after that `end`.
public enum HTTP1ParseEvent: Sendable, Equatable {
    /// The request line and header section, already validated.
    case head(HTTPRequestHead)

    /// The next bytes of the body, after chunked decoding. Never empty.
    case body([UInt8])

    /// The end of the request. `trailers` contains the trailer section of a
    /// chunked body, or nil when there is none.
    case end(trailers: HTTPHeaders?)
}
