import SluiceCore
import SluiceNet

/// The response to one HTTP/1.1 request, written onto its connection.
///
/// Only the connection's active request has a responder, so everything it
/// writes goes out in request order.
final class HTTP1Responder: HTTPResponder {
    private enum State {
        /// Nothing sent yet.
        case idle
        /// The head went out; body pieces follow.
        case streaming
        /// The response ended normally or the connection was upgraded.
        case finished
        /// The response cannot complete any more.
        case cancelled(CancellationReason)
    }

    let eventLoop: EventLoop
    private let context: HTTPServerLoopContext
    private var owner: HTTP1ServerConnection?
    private var connection: Connection?
    private let requestMethod: HTTPMethod
    private let requestVersion: HTTPVersion
    private let requestKeepAlive: Bool
    private var writer: HTTP1ResponseWriter
    private var state = State.idle
    private var cancellationStorage: Cancellation?

    /// Forces `Connection: close` and a close after this response (set for
    /// rejected requests whose remaining input cannot be trusted).
    var mustCloseConnection = false

    /// - Parameter requestHead: nil for a request whose head never parsed,
    ///   which gets a response as to an HTTP/1.1 GET and a close after it.
    init(owner: HTTP1ServerConnection, connection: Connection, requestHead: HTTPRequestHead?) {
        self.owner = owner
        self.connection = connection
        self.context = owner.context
        self.eventLoop = connection.eventLoop
        self.requestMethod = requestHead?.method ?? .get
        self.requestVersion = requestHead?.version ?? .http1_1
        self.requestKeepAlive = requestHead?.keepAlive ?? false
        // Replaced when the head is written, once keep-alive is decided.
        self.writer = HTTP1ResponseWriter(requestMethod: requestMethod, requestVersion: requestVersion, keepAlive: false)
    }

    var cancellation: Cancellation {
        if let cancellationStorage {
            return cancellationStorage
        }
        // Created on first use, because many requests never look at it.
        let cancellation = Cancellation()
        cancellationStorage = cancellation
        if case .cancelled(let reason) = state {
            cancellation.cancel(reason)
        }
        return cancellation
    }

    var bufferedOutboundBytes: Int {
        connection?.bufferedOutboundBytes ?? 0
    }

    var isComplete: Bool {
        switch state {
        case .idle, .streaming: false
        case .finished, .cancelled: true
        }
    }

    // MARK: Whole responses

    func send(_ head: HTTPResponseHead, body: [UInt8]) {
        eventLoop.preconditionInEventLoop()
        guard case .idle = state, let connection else {
            reportLateCall("send")
            return
        }
        guard !HTTPStatus.isInformational(head.status) else {
            reportMisuse("send", reason: "informational statuses cannot end a response")
            return
        }

        startWriter()
        context.scratch.removeAll(keepingCapacity: true)
        writer.writeHead(head, bodyLength: body.count, date: context.date(), into: &context.scratch)
        if writer.framing == .noBody || body.count > Self.inlineBodyLimit {
            // A large body goes straight into the connection's output rather
            // than through the scratch buffer, saving a copy.
            connection.write(context.scratch)
            if writer.framing != .noBody {
                connection.write(body)
            }
        } else {
            writer.writeBody(body, into: &context.scratch)
            connection.write(context.scratch)
        }
        finish()
    }

    /// Bodies up to this size are copied into the scratch buffer with their head.
    private static let inlineBodyLimit = 16 * 1024

    // MARK: Streams

    func startStream(_ head: HTTPResponseHead) {
        eventLoop.preconditionInEventLoop()
        guard case .idle = state, let connection else {
            reportLateCall("startStream")
            return
        }
        guard !HTTPStatus.isInformational(head.status) else {
            reportMisuse("startStream", reason: "informational statuses cannot start a response")
            return
        }

        // A declared length is honoured: the body is then sent unframed.
        let declaredLength = head.headers["content-length"].flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil }
        startWriter()
        context.scratch.removeAll(keepingCapacity: true)
        writer.writeHead(head, bodyLength: declaredLength, date: context.date(), into: &context.scratch)
        connection.write(context.scratch)
        state = .streaming
    }

    func writeStreamChunk(_ bytes: [UInt8]) {
        eventLoop.preconditionInEventLoop()
        guard case .streaming = state, let connection else {
            reportLateCall("writeStreamChunk")
            return
        }
        guard !bytes.isEmpty, writer.framing != .noBody else { return }

        // Output still buffered from earlier turns means the client is not
        // keeping up; bytes from this turn have not had a chance to leave.
        if connection.bufferedOutboundBytes > context.configuration.maxOutboundBufferBytes {
            dropSlowConsumer(connection)
            return
        }

        context.scratch.removeAll(keepingCapacity: true)
        writer.writeBody(bytes, into: &context.scratch)
        connection.write(context.scratch)
    }

    func finishStream(trailers: HTTPHeaders?) {
        eventLoop.preconditionInEventLoop()
        guard case .streaming = state, let connection else {
            reportLateCall("finishStream")
            return
        }
        context.scratch.removeAll(keepingCapacity: true)
        writer.writeEnd(trailers: trailers, into: &context.scratch)
        connection.write(context.scratch)
        finish()
    }

    // MARK: Upgrade

    func upgrade(_ head: HTTPResponseHead, to makeHandler: (Connection) -> any ConnectionHandler) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard case .idle = state, head.status == 101, requestVersion >= .http1_1, let connection, let owner else {
            return false
        }

        context.scratch.removeAll(keepingCapacity: true)
        writer.writeHead(head, bodyLength: nil, date: context.date(), into: &context.scratch)
        connection.write(context.scratch)

        state = .finished
        self.owner = nil
        self.connection = nil
        owner.upgradeConnection(self, to: makeHandler)
        return true
    }

    // MARK: Connection events

    /// Called by the connection when it closed before this response ended.
    func connectionDidClose(reason: CancellationReason) {
        owner = nil
        connection = nil
        switch state {
        case .idle, .streaming:
            state = .cancelled(reason)
            cancellationStorage?.cancel(reason)
        case .finished, .cancelled:
            break
        }
    }

    // MARK: Helpers

    /// Creates the writer with the keep-alive decision for this response.
    private func startWriter() {
        let quiescing = owner?.isQuiescing ?? true
        let keepAlive = requestKeepAlive && !mustCloseConnection && !quiescing
        writer = HTTP1ResponseWriter(requestMethod: requestMethod, requestVersion: requestVersion, keepAlive: keepAlive)
    }

    private func finish() {
        state = .finished
        let owner = self.owner
        self.owner = nil
        connection = nil
        owner?.responseDidFinish(self, closeConnection: writer.mustCloseConnection)
    }

    private func dropSlowConsumer(_ connection: Connection) {
        HTTPServerMetrics.countClientError(code: "slow_consumer")
        context.logger.debug(
            "stream dropped: client reads too slowly",
            [
                ("buffered_bytes", connection.bufferedOutboundBytes),
                ("limit_bytes", context.configuration.maxOutboundBufferBytes),
                ("peer", connection.remoteAddress?.description ?? "unknown"),
            ])
        state = .cancelled(.slowConsumer)
        owner = nil
        self.connection = nil
        cancellationStorage?.cancel(.slowConsumer)
        connection.abort()
    }

    /// Logs a call made after the response ended; calls after cancellation are expected and ignored.
    private func reportLateCall(_ method: String) {
        guard case .finished = state else { return }
        reportMisuse(method, reason: "the response already ended")
    }

    private func reportMisuse(_ method: String, reason: String) {
        context.logger.warning("responder call ignored", [("method", method), ("reason", reason)])
    }
}
