import SluiceCore
import SluiceNet

/// The one interface route handlers respond through, whatever the protocol.
///
/// HTTP/1.1 implements it now. HTTP/2 streams, gRPC (with trailers) and
/// WebSocket will implement it too, so handlers written against it do not
/// change when protocols are added.
///
/// A responder belongs to its `eventLoop`: call every member on that loop's
/// thread (from elsewhere, hop with `eventLoop.execute`). A response is
/// either one `send`, or `startStream`, any number of `writeStreamChunk`,
/// and one `finishStream`. Calls after the response ended or after
/// `cancellation` fired are ignored, so a producer that finds out late that
/// the client left does no harm.
public protocol HTTPResponder: AnyObject {
    /// The loop that owns the request's connection or stream.
    var eventLoop: EventLoop { get }

    /// Fires on `eventLoop` as soon as the response cannot complete: the
    /// client disconnected or reset, a write failed or timed out, the client
    /// read too slowly (`slowConsumer`), or the server shut down. It does not
    /// fire after the response ended normally.
    var cancellation: Cancellation { get }

    /// Output written for this response (or, on HTTP/1.1, its connection)
    /// that the client has not taken yet. It grows while a client reads
    /// slowly.
    var bufferedOutboundBytes: Int { get }

    /// Whether the response ended: sent, finished, upgraded, or cancelled.
    var isComplete: Bool { get }

    /// Sends a whole response with a `Content-Length` body (omitted for HEAD
    /// requests and for statuses that carry no content).
    func send(_ head: HTTPResponseHead, body: [UInt8])

    /// Sends the head of a streamed response. HTTP/1.1 frames the body
    /// chunked unless `head` has a `Content-Length`; a HEAD request gets the
    /// head alone.
    func startStream(_ head: HTTPResponseHead)

    /// Writes one piece of a streamed response, such as one SSE event. It is
    /// written to the socket at the end of the current loop turn, not held
    /// back for more. Empty pieces are skipped.
    func writeStreamChunk(_ bytes: [UInt8])

    /// Ends a streamed response, with trailer fields where the protocol has
    /// them (HTTP/1.1 chunked, HTTP/2, gRPC).
    func finishStream(trailers: HTTPHeaders?)

    /// Sends `head`, a 101 Switching Protocols response with its `Upgrade`
    /// field, and hands the connection to the handler that `makeHandler`
    /// returns. Bytes the client sent after the request go to that handler.
    /// - Returns: false, having sent nothing, when the response already
    ///   started or the protocol cannot switch (an HTTP/2 stream).
    func upgrade(_ head: HTTPResponseHead, to makeHandler: (Connection) -> any ConnectionHandler) -> Bool
}

extension HTTPResponder {
    /// Sends a whole response with `status`, `headers` and `body`.
    public func send(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        send(HTTPResponseHead(status: status, headers: headers), body: body)
    }

    /// Sends an error response with an OpenAI error object as its JSON body.
    /// - Parameters:
    ///   - code: the stable snake_case name of the error.
    ///   - message: a sentence that states what failed and what to do.
    ///   - type: OpenAI's error category.
    public func sendError(
        status: Int,
        code: String,
        message: String,
        type: String = "invalid_request_error",
        headers: HTTPHeaders = HTTPHeaders()
    ) {
        var headers = headers
        headers.replaceOrAdd(name: "content-type", value: OpenAIErrorBody.contentType)
        send(
            HTTPResponseHead(status: status, headers: headers),
            body: OpenAIErrorBody.encode(message: message, type: type, code: code))
    }

    /// Writes the UTF-8 bytes of `text` as one piece of a streamed response.
    public func writeStreamChunk(_ text: String) {
        writeStreamChunk(Array(text.utf8))
    }
}
