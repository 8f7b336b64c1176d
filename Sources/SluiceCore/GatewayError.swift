/// The one error type of the gateway. Each protocol maps it to its own form:
/// an HTTP status with an OpenAI error object, a gRPC status, or a WebSocket
/// error message or close code.
public struct GatewayError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. Each code has a stable snake_case name used as a
    /// metric label and in the `code` field of error bodies.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable snake_case name.
        public let name: String

        public init(_ name: String) { self.name = name }

        public var description: String { name }

        /// The request is malformed or a field has a bad type or value.
        public static let invalidRequest = Code("invalid_request")
        /// The request body is not valid JSON (or protobuf).
        public static let invalidBody = Code("invalid_body")
        /// The route does not exist.
        public static let notFound = Code("not_found")
        /// The route exists but not for this method.
        public static let methodNotAllowed = Code("method_not_allowed")
        /// The named model is not served here.
        public static let modelNotFound = Code("model_not_found")
        /// Prompt plus requested tokens do not fit the model's context or KV budget.
        public static let contextLengthExceeded = Code("context_length_exceeded")
        /// The request queue is full; the client should retry later.
        public static let queueFull = Code("queue_full")
        /// The request passed its deadline before it finished.
        public static let deadlineExceeded = Code("deadline_exceeded")
        /// The client cancelled the request or went away.
        public static let cancelled = Code("cancelled")
        /// The client read its stream too slowly and the buffered output passed its bound.
        public static let slowConsumer = Code("slow_consumer")
        /// The request body is larger than the configured maximum.
        public static let payloadTooLarge = Code("payload_too_large")
        /// The server is shutting down or no worker can serve the model.
        public static let unavailable = Code("unavailable")
        /// A worker failed while running a step.
        public static let workerFailed = Code("worker_failed")
        /// A bug or an unexpected condition inside the gateway.
        public static let internalError = Code("internal_error")
    }

    public var code: Code
    /// A sentence a user can act on: what failed, on which value, what to do.
    public var message: String
    /// The request field the error is about, such as `max_tokens`, if any.
    public var parameter: String?
    /// For `queueFull`: how long the client should wait before retrying.
    public var retryAfterSeconds: Int?
    /// The underlying error, if another error caused this one.
    public var cause: (any Error & Sendable)?

    public init(
        _ code: Code,
        _ message: String,
        parameter: String? = nil,
        retryAfterSeconds: Int? = nil,
        cause: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.parameter = parameter
        self.retryAfterSeconds = retryAfterSeconds
        self.cause = cause
    }

    public var description: String {
        var text = "\(code.name): \(message)"
        if let parameter { text += " (parameter: \(parameter))" }
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}
