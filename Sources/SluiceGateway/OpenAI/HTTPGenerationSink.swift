import SluiceCore
import SluiceHTTP
import SluiceNet

/// Streams one generation to an HTTP client: SSE chunks (`stream: true`),
/// one JSON body (`stream: false`) or NDJSON lines (native route).
///
/// Runs on the responder's event loop; the scheduler calls it there.
/// `@unchecked Sendable`: every method runs on `executor`, the loop that owns
/// the responder, so its state is never touched by two threads.
final class HTTPGenerationSink: TokenSink, @unchecked Sendable {
    enum Mode {
        case serverSentEvents
        case json
        case ndjson
    }

    let executor: any EventExecutor
    private let responder: any HTTPResponder
    private let encoder: OpenAIResponseEncoder
    private let mode: Mode
    private let requestID: String
    private let onEnd: (Int, Usage) -> Void
    private var headSent = false
    private var text: [UInt8] = []

    /// A client that reads too slowly is the responder's concern: past its
    /// output bound it cancels the request with `slowConsumer` and closes the
    /// connection, and the scheduler then drops the sequence.
    /// - Parameter onEnd: called once with the HTTP status and usage when the response ends.
    init(
        responder: any HTTPResponder, encoder: OpenAIResponseEncoder, mode: Mode, requestID: String,
        onEnd: @escaping (Int, Usage) -> Void
    ) {
        self.executor = responder.eventLoop
        self.responder = responder
        self.encoder = encoder
        self.mode = mode
        self.requestID = requestID
        self.onEnd = onEnd
    }

    func token(_ event: TokenEvent) {
        guard !responder.cancellation.isCancelled else { return }
        switch mode {
        case .json:
            text.append(contentsOf: event.text.utf8)
            return
        case .serverSentEvents:
            guard !event.text.isEmpty else { return }
            startStreamIfNeeded()
            responder.writeStreamChunk(encoder.tokenChunk(event.text))
        case .ndjson:
            startStreamIfNeeded()
            responder.writeStreamChunk(encoder.generateLine(event))
        }
    }

    func finish(_ reason: FinishReason, text tail: String, usage: Usage) {
        switch mode {
        case .json:
            text.append(contentsOf: tail.utf8)
            let body = encoder.completeBody(text: String(decoding: text, as: UTF8.self), reason: reason, usage: usage)
            responder.send(Self.head(status: 200, contentType: "application/json", requestID: requestID), body: body)
        case .serverSentEvents:
            startStreamIfNeeded()
            responder.writeStreamChunk(encoder.finishChunks(reason, text: tail, usage: usage))
            responder.finishStream(trailers: nil)
        case .ndjson:
            startStreamIfNeeded()
            responder.writeStreamChunk(encoder.generateFinalLine(reason, text: tail, usage: usage))
            responder.finishStream(trailers: nil)
        }
        onEnd(200, usage)
    }

    func fail(_ error: GatewayError, usage: Usage) {
        let status = OpenAIResponseEncoder.httpStatus(error.code)
        defer { onEnd(status, usage) }
        if responder.cancellation.isCancelled {
            return  // The client left, or the responder already ended the connection.
        }
        guard headSent else {
            let (head, body) = GatewayErrorResponse.make(error, requestID: requestID)
            responder.send(head, body: body)
            return
        }
        switch mode {
        case .serverSentEvents:
            responder.writeStreamChunk(OpenAIResponseEncoder.errorEvent(error))
        case .ndjson:
            responder.writeStreamChunk(OpenAIResponseEncoder.errorLine(error))
        case .json:
            break
        }
        responder.finishStream(trailers: nil)
    }

    private func startStreamIfNeeded() {
        guard !headSent else { return }
        headSent = true
        switch mode {
        case .serverSentEvents:
            responder.startStream(Self.head(status: 200, contentType: "text/event-stream", requestID: requestID))
            if encoder.kind == .chat {
                responder.writeStreamChunk(encoder.roleChunk())
            }
        case .ndjson:
            responder.startStream(Self.head(status: 200, contentType: "application/x-ndjson", requestID: requestID))
        case .json:
            break
        }
    }

    static func head(status: Int, contentType: String, requestID: String) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        if contentType == "text/event-stream" {
            headers.add(name: "cache-control", value: "no-cache")
        }
        headers.add(name: "x-request-id", value: requestID)
        return HTTPResponseHead(status: status, headers: headers)
    }
}

/// HTTP error responses with OpenAI's error object.
enum GatewayErrorResponse {
    static func make(_ error: GatewayError, requestID: String?) -> (HTTPResponseHead, [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        if let retryAfter = error.retryAfterSeconds {
            headers.add(name: "retry-after", value: String(retryAfter))
        }
        if let requestID {
            headers.add(name: "x-request-id", value: requestID)
        }
        var writer = JSONWriter(capacity: 256)
        OpenAIResponseEncoder.writeError(error, into: &writer)
        return (HTTPResponseHead(status: OpenAIResponseEncoder.httpStatus(error.code), headers: headers), writer.bytes)
    }
}
