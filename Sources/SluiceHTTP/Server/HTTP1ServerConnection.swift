import SluiceCore
import SluiceNet

/// The HTTP/1.1 side of one connection: parses requests, routes them, and
/// responds to them strictly in order, one response at a time.
///
/// Pipelined requests wait in a queue while an earlier response is written.
/// Once `maxPipelinedRequests` wait, parsing stops; the parser's input
/// buffer then fills up to its bound and reading stops too, so a flood of
/// pipelined requests cannot grow memory without limit.
///
/// Every bad request gets an error response with an OpenAI error object,
/// after which the connection closes: a parse error leaves the position of
/// the next request unknown.
final class HTTP1ServerConnection: ConnectionHandler {
    /// A response owed to the client, in request order.
    enum PendingResponse {
        /// A complete request for a route handler.
        case dispatch(HTTPRequest, HTTPRouter.Handler)
        /// An error response; `head` is nil when the request head never parsed.
        case reject(HTTPServerError, head: HTTPRequestHead?, closeAfter: Bool)
    }

    /// The request whose head arrived and whose body is still arriving.
    struct ReceivingRequest {
        var head: HTTPRequestHead
        var handler: HTTPRouter.Handler?
        var routeError: HTTPServerError?
        var body: [UInt8] = []
        /// Whether a `100 Continue` is owed before the client sends the body.
        var awaitingContinue = false
    }

    let context: HTTPServerLoopContext
    private(set) var connection: Connection?
    private var parser: HTTP1RequestParser

    private var receiving: ReceivingRequest?
    private var waiting: [PendingResponse] = []
    private var waitingStart = 0
    private var waitingBodyBytes = 0
    private var active: HTTP1Responder?

    private var isAdvancing = false
    private var needsAnotherPass = false
    /// Set once no further request on this connection will get a response.
    private var isInputClosed = false
    /// Set after an upgrade request: later bytes may belong to another protocol.
    private var isHeldForUpgrade = false
    /// Set by a graceful shutdown: close once the active response ends.
    private(set) var isQuiescing = false
    private var isClosed = false

    private var timer: TimerHandle?
    private var timerDeadline = MonotonicInstant.distantFuture
    /// When the client last sent bytes or the last response ended.
    private var lastActivity = MonotonicInstant.now()
    /// When the first bytes of the request head now being received arrived.
    private var headStartedAt = MonotonicInstant.now()
    private var hasReceivedRequest = false

    init(context: HTTPServerLoopContext) {
        self.context = context
        self.parser = HTTP1RequestParser(limits: context.parserLimits)
    }

    private var waitingCount: Int { waiting.count - waitingStart }

    // MARK: ConnectionHandler

    func handlerAdded(to connection: Connection) {
        self.connection = connection
        let now = MonotonicInstant.now()
        lastActivity = now
        headStartedAt = now
        scheduleTimeoutCheck()
    }

    func connectionDidRead(_ connection: Connection, bytes: UnsafeRawBufferPointer) {
        guard !isClosed, !isInputClosed else { return }
        let now = MonotonicInstant.now()
        if receiving == nil && parser.isBetweenMessages {
            headStartedAt = now
        }
        lastActivity = now
        parser.feed(bytes)
        advance()
    }

    func connectionShouldQuiesce(_ connection: Connection) {
        isQuiescing = true
        if active == nil && waitingCount == 0 {
            closeConnection()
        }
    }

    func connectionDidClose(_ connection: Connection, error: ConnectionError?) {
        guard !isClosed else { return }
        isClosed = true
        cancelTimer()

        let reason: CancellationReason
        switch error {
        case .shutdown: reason = .shutdown
        case .writeTimeout: reason = .slowConsumer
        default: reason = .clientDisconnected
        }
        let responder = active
        active = nil
        waiting.removeAll()
        waitingStart = 0
        receiving = nil
        self.connection = nil
        responder?.connectionDidClose(reason: reason)
    }

    // MARK: Parsing and dispatch

    /// Parses what input allows and dispatches what is ready, until neither
    /// makes progress. Safe to call re-entrantly (from a handler that
    /// responds at once): the outer call does another pass.
    private func advance() {
        guard !isAdvancing else {
            needsAnotherPass = true
            return
        }
        isAdvancing = true
        repeat {
            needsAnotherPass = false
            parseRequests()
            dispatchResponses()
        } while needsAnotherPass && !isClosed
        isAdvancing = false

        guard !isClosed, let connection else { return }
        if parser.shouldPauseReading && !isInputClosed {
            connection.pauseReading()
        } else {
            connection.resumeReading()
        }
        scheduleTimeoutCheck()
    }

    private func parseRequests() {
        while !isInputClosed && !isHeldForUpgrade && waitingCount < context.configuration.maxPipelinedRequests
            && waitingBodyBytes <= context.configuration.maxBodyBytes
        {
            let event: HTTP1ParseEvent?
            do {
                event = try parser.nextEvent()
            } catch {
                rejectUnparsable(error)
                return
            }
            guard let event else { return }

            switch event {
            case .head(let head):
                startRequest(head)
            case .body(let bytes):
                appendBody(bytes)
            case .end(let trailers):
                finishRequest(trailers: trailers)
            }
        }
    }

    private func startRequest(_ head: HTTPRequestHead) {
        hasReceivedRequest = true
        var request = ReceivingRequest(head: head)
        switch context.router.match(method: head.method, path: head.path) {
        case .handler(let handler):
            request.handler = handler
        case .methodNotAllowed(let allowed):
            request.routeError = .methodNotAllowed(head.method, allowed: allowed)
        case .notFound:
            request.routeError = .notFound(head.path)
        }

        if head.expectsContinue {
            guard let routeError = request.routeError else {
                request.awaitingContinue = true
                receiving = request
                sendContinueIfDue()
                return
            }
            // The client waits before sending its body, so respond now
            // without reading it. Whether the body follows anyway cannot be
            // known, so the connection closes after the response.
            isInputClosed = true
            enqueue(.reject(routeError, head: head, closeAfter: true))
            return
        }
        receiving = request
    }

    private func appendBody(_ bytes: [UInt8]) {
        guard receiving?.handler != nil else { return }
        waitingBodyBytes += bytes.count
        if receiving!.body.isEmpty {
            receiving!.body = bytes
        } else {
            receiving!.body.append(contentsOf: bytes)
        }
    }

    private func finishRequest(trailers: HTTPHeaders?) {
        guard let request = receiving else { return }
        receiving = nil
        let head = request.head
        if !head.keepAlive {
            isInputClosed = true
        }
        if head.headers.contains("upgrade") {
            isHeldForUpgrade = true
        }

        if let handler = request.handler {
            let full = HTTPRequest(
                head: head, body: request.body, trailers: trailers, id: context.makeRequestID(for: head),
                remoteAddress: connection?.remoteAddress)
            enqueue(.dispatch(full, handler))
        } else if let routeError = request.routeError {
            enqueue(.reject(routeError, head: head, closeAfter: !head.keepAlive))
        }
    }

    private func rejectUnparsable(_ error: HTTP1ParseError) {
        isInputClosed = true
        let head = receiving?.head
        receiving = nil
        enqueue(.reject(.parse(error), head: head, closeAfter: true))
    }

    private func enqueue(_ response: PendingResponse) {
        if case .reject(let error, _, _) = response {
            HTTPServerMetrics.countClientError(code: error.code)
            context.logger.debug(
                "request rejected",
                [
                    ("status", error.status), ("code", error.code),
                    ("peer", connection?.remoteAddress?.description ?? "unknown"),
                ])
        }
        waiting.append(response)
    }

    private func dequeue() -> PendingResponse? {
        guard waitingStart < waiting.count else { return nil }
        let next = waiting[waitingStart]
        waitingStart += 1
        if waitingStart == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingStart = 0
        }
        if case .dispatch(let request, _) = next {
            waitingBodyBytes -= request.body.count
        }
        return next
    }

    private func dispatchResponses() {
        while active == nil, !isClosed, let connection, let next = dequeue() {
            switch next {
            case .dispatch(let request, let handler):
                let responder = HTTP1Responder(owner: self, connection: connection, requestHead: request.head)
                active = responder
                handler(request, responder)
            case .reject(let error, let head, let closeAfter):
                let responder = HTTP1Responder(owner: self, connection: connection, requestHead: head)
                responder.mustCloseConnection = closeAfter
                active = responder
                var headers = error.headers
                if let head {
                    // Routed responses carry the id too, so a client can quote it for any response.
                    headers.add(name: HTTPRequest.requestIDHeader, value: context.makeRequestID(for: head))
                }
                responder.sendError(status: error.status, code: error.code, message: error.message, headers: headers)
            }
        }
    }

    private func sendContinueIfDue() {
        guard receiving?.awaitingContinue == true, active == nil, waitingCount == 0, let connection else { return }
        receiving!.awaitingContinue = false
        context.scratch.removeAll(keepingCapacity: true)
        HTTP1ResponseWriter.writeContinue(into: &context.scratch)
        connection.write(context.scratch)
    }

    // MARK: Responder callbacks

    /// Called by the active responder when its response ended.
    func responseDidFinish(_ responder: HTTP1Responder, closeConnection: Bool) {
        guard responder === active, !isClosed else { return }
        active = nil
        let now = MonotonicInstant.now()
        lastActivity = now
        if !parser.isBetweenMessages && receiving == nil {
            // A pipelined head that arrived during the response gets the
            // full header timeout from now on.
            headStartedAt = now
        }

        if closeConnection || isQuiescing || (isInputClosed && waitingCount == 0) {
            self.closeConnection()
            return
        }
        if waitingCount == 0 {
            // The upgrade request, which was last in line, was answered without an upgrade.
            isHeldForUpgrade = false
        }
        sendContinueIfDue()
        advance()
    }

    /// Called by the active responder after it wrote a 101 response: hands
    /// the connection, and any bytes read after the request, to a new handler.
    func upgradeConnection(_ responder: HTTP1Responder, to makeHandler: (Connection) -> any ConnectionHandler) {
        guard responder === active, !isClosed, let connection else { return }
        active = nil
        isClosed = true
        cancelTimer()
        let leftover = parser.takeBufferedBytes()
        self.connection = nil

        let handler = makeHandler(connection)
        connection.setHandler(handler)
        connection.resumeReading()
        if !leftover.isEmpty && connection.isOpen {
            leftover.withUnsafeBytes { handler.connectionDidRead(connection, bytes: $0) }
        }
    }

    private func closeConnection() {
        isInputClosed = true
        receiving = nil
        waiting.removeAll()
        waitingStart = 0
        waitingBodyBytes = 0
        cancelTimer()
        connection?.close()
    }
}

// MARK: Timeouts

extension HTTP1ServerConnection {
    /// The timeouts a connection enforces itself; blocked output is the
    /// connection's own `writeTimeout`.
    enum TimeoutKind {
        /// A new connection sent nothing: close without a response.
        case firstRequest
        /// Between requests on a keep-alive connection: close without a response.
        case idle
        /// A request head started but did not finish: 408.
        case headerRead
        /// A request body stopped arriving: 408.
        case bodyRead
    }

    /// Returns the deadline the connection's state implies now, or nil while
    /// a response is being produced, whose pace is up to its handler.
    func currentDeadline() -> (MonotonicInstant, TimeoutKind)? {
        guard active == nil, waitingCount == 0, !isInputClosed, !isClosed else { return nil }
        let configuration = context.configuration
        if receiving != nil {
            return configuration.idleTimeout.map { (lastActivity + $0, .bodyRead) }
        }
        if !parser.isBetweenMessages {
            return configuration.headerReadTimeout.map { (headStartedAt + $0, .headerRead) }
        }
        if !hasReceivedRequest {
            return configuration.headerReadTimeout.map { (headStartedAt + $0, .firstRequest) }
        }
        return configuration.idleTimeout.map { (lastActivity + $0, .idle) }
    }

    /// Makes sure a timer fires no later than the current deadline.
    ///
    /// A timer already due earlier is kept: when it fires it recomputes the
    /// deadline and schedules itself again. So a keep-alive connection that
    /// serves many requests touches the timer heap about once per timeout
    /// period, not once per request.
    func scheduleTimeoutCheck() {
        guard let (deadline, _) = currentDeadline() else { return }
        if timer != nil && timerDeadline <= deadline { return }
        cancelTimer()
        timerDeadline = deadline
        // A strong capture: the timer is cancelled whenever the connection
        // closes, and a weak reference would slow every retain of `self`.
        timer = context.eventLoop.scheduleTimer(at: deadline) {
            self.timerFired()
        }
    }

    private func cancelTimer() {
        if let timer {
            context.eventLoop.cancelTimer(timer)
        }
        timer = nil
        timerDeadline = .distantFuture
    }

    private func timerFired() {
        timer = nil
        timerDeadline = .distantFuture
        guard let (deadline, kind) = currentDeadline() else { return }
        guard deadline <= MonotonicInstant.now() else {
            scheduleTimeoutCheck()
            return
        }

        switch kind {
        case .firstRequest, .idle:
            context.logger.trace("closing idle connection", [("peer", peerDescription)])
            closeConnection()
        case .headerRead, .bodyRead:
            let head = receiving?.head
            receiving = nil
            isInputClosed = true
            enqueue(.reject(.requestTimeout(readingBody: kind == .bodyRead), head: head, closeAfter: true))
            advance()
        }
    }

    private var peerDescription: String {
        connection?.remoteAddress?.description ?? "unknown"
    }
}
