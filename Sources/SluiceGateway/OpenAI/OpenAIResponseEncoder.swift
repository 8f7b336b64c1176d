import SluiceCore

/// Builds the bytes of OpenAI-shaped responses for one request: whole JSON
/// bodies for `stream: false`, Server-Sent Event chunks for `stream: true`,
/// and NDJSON lines for the native route.
///
/// The parts of a chunk that do not change during a stream are encoded once,
/// so each token costs one escaped string and one buffer.
struct OpenAIResponseEncoder {
    let kind: OpenAIRequest.Kind
    let id: String
    let created: Int
    let model: String
    let includeUsage: Bool

    /// `data: {…"choices":[{"index":0,` up to where the token's text goes;
    /// empty unless the response is an SSE stream.
    private let chunkPrefix: [UInt8]

    /// - Parameter streamsServerSentEvents: whether SSE chunks will be
    ///   encoded; only then is their constant prefix built.
    init(
        kind: OpenAIRequest.Kind, id: String, created: Int, model: String, includeUsage: Bool,
        streamsServerSentEvents: Bool = true
    ) {
        self.kind = kind
        self.id = id
        self.created = created
        self.model = model
        self.includeUsage = includeUsage
        guard streamsServerSentEvents else {
            chunkPrefix = []
            return
        }
        var writer = JSONWriter(capacity: 160)
        writer.raw("data: {\"id\":")
        writer.string(id)
        writer.raw(kind == .chat ? ",\"object\":\"chat.completion.chunk\",\"created\":" : ",\"object\":\"text_completion\",\"created\":")
        writer.integer(created)
        writer.raw(",\"model\":")
        writer.string(model)
        writer.raw(",\"choices\":[{\"index\":0,")
        chunkPrefix = writer.bytes
    }

    static let doneEvent: [UInt8] = Array("data: [DONE]\n\n".utf8)

    /// Encodes the first chat chunk, which announces the assistant role.
    func roleChunk() -> [UInt8] {
        var writer = JSONWriter(capacity: chunkPrefix.count + 96)
        writer.bytes.append(contentsOf: chunkPrefix)
        writer.raw("\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]")
        closeChunk(&writer)
        return writer.bytes
    }

    /// Encodes an SSE event that carries one text delta.
    func tokenChunk(_ text: String) -> [UInt8] {
        var writer = JSONWriter(capacity: chunkPrefix.count + text.utf8.count + 64)
        writer.bytes.append(contentsOf: chunkPrefix)
        if kind == .chat {
            writer.raw("\"delta\":{\"content\":")
            writer.string(text)
            writer.raw("},\"logprobs\":null,\"finish_reason\":null}]")
        } else {
            writer.raw("\"text\":")
            writer.string(text)
            writer.raw(",\"logprobs\":null,\"finish_reason\":null}]")
        }
        closeChunk(&writer)
        return writer.bytes
    }

    /// Encodes the last choice chunk (held-back text and the finish reason),
    /// then the usage chunk when the client requested it, then `[DONE]`.
    func finishChunks(_ reason: FinishReason, text: String, usage: Usage) -> [UInt8] {
        var writer = JSONWriter(capacity: chunkPrefix.count * 2 + 160)
        writer.bytes.append(contentsOf: chunkPrefix)
        if kind == .chat {
            writer.raw("\"delta\":")
            if text.isEmpty {
                writer.raw("{}")
            } else {
                writer.raw("{\"content\":")
                writer.string(text)
                writer.raw("}")
            }
        } else {
            writer.raw("\"text\":")
            writer.string(text)
        }
        writer.raw(",\"logprobs\":null,\"finish_reason\":")
        writer.string(Self.openAIName(reason))
        writer.raw("}]")
        closeChunk(&writer)
        if includeUsage {
            writer.raw("data: {\"id\":")
            writer.string(id)
            writer.raw(kind == .chat ? ",\"object\":\"chat.completion.chunk\",\"created\":" : ",\"object\":\"text_completion\",\"created\":")
            writer.integer(created)
            writer.raw(",\"model\":")
            writer.string(model)
            writer.raw(",\"choices\":[],\"usage\":")
            Self.writeUsage(usage, into: &writer)
            writer.raw("}\n\n")
        }
        writer.bytes.append(contentsOf: Self.doneEvent)
        return writer.bytes
    }

    /// Encodes an SSE event that carries an error object. The stream ends after it.
    static func errorEvent(_ error: GatewayError) -> [UInt8] {
        var writer = JSONWriter(capacity: 200)
        writer.raw("data: ")
        writeError(error, into: &writer)
        writer.raw("\n\n")
        return writer.bytes
    }

    private func closeChunk(_ writer: inout JSONWriter) {
        if includeUsage { writer.raw(",\"usage\":null") }
        writer.raw("}\n\n")
    }

    // MARK: - Whole bodies (stream: false)

    func completeBody(text: String, reason: FinishReason, usage: Usage) -> [UInt8] {
        var writer = JSONWriter(capacity: 256 + text.utf8.count)
        writer.raw("{\"id\":")
        writer.string(id)
        writer.raw(kind == .chat ? ",\"object\":\"chat.completion\",\"created\":" : ",\"object\":\"text_completion\",\"created\":")
        writer.integer(created)
        writer.raw(",\"model\":")
        writer.string(model)
        if kind == .chat {
            writer.raw(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":")
            writer.string(text)
            writer.raw("},\"logprobs\":null,\"finish_reason\":")
        } else {
            writer.raw(",\"choices\":[{\"index\":0,\"text\":")
            writer.string(text)
            writer.raw(",\"logprobs\":null,\"finish_reason\":")
        }
        writer.string(Self.openAIName(reason))
        writer.raw("}],\"usage\":")
        Self.writeUsage(usage, into: &writer)
        writer.raw("}")
        return writer.bytes
    }

    // MARK: - NDJSON (native route)

    func generateLine(_ event: TokenEvent) -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + event.text.utf8.count)
        writer.raw("{\"index\":")
        writer.integer(event.index)
        writer.raw(",\"token\":")
        writer.integer(Int(event.tokenID))
        writer.raw(",\"text\":")
        writer.string(event.text)
        writer.raw("}\n")
        return writer.bytes
    }

    func generateFinalLine(_ reason: FinishReason, text: String, usage: Usage) -> [UInt8] {
        var writer = JSONWriter(capacity: 160 + text.utf8.count)
        writer.raw("{\"id\":")
        writer.string(id)
        writer.raw(",\"model\":")
        writer.string(model)
        writer.raw(",\"done\":true,\"text\":")
        writer.string(text)
        writer.raw(",\"finish_reason\":")
        writer.string(reason.rawValue)
        writer.raw(",\"usage\":")
        Self.writeUsage(usage, into: &writer)
        writer.raw("}\n")
        return writer.bytes
    }

    static func errorLine(_ error: GatewayError) -> [UInt8] {
        var writer = JSONWriter(capacity: 200)
        writeError(error, into: &writer)
        writer.raw("\n")
        return writer.bytes
    }

    // MARK: - Shared pieces

    static func openAIName(_ reason: FinishReason) -> String {
        switch reason {
        case .stop: "stop"
        case .length: "length"
        case .cancelled: "cancelled"
        }
    }

    static func writeUsage(_ usage: Usage, into writer: inout JSONWriter) {
        writer.raw("{\"prompt_tokens\":")
        writer.integer(usage.promptTokens)
        writer.raw(",\"completion_tokens\":")
        writer.integer(usage.completionTokens)
        writer.raw(",\"total_tokens\":")
        writer.integer(usage.totalTokens)
        writer.raw("}")
    }

    /// OpenAI's error object: `type` keeps OpenAI's meaning, `code` carries the stable snake_case name.
    static func writeError(_ error: GatewayError, into writer: inout JSONWriter) {
        writer.raw("{\"error\":{\"message\":")
        writer.string(error.message)
        writer.raw(",\"type\":")
        writer.string(errorType(error.code))
        writer.raw(",\"param\":")
        if let parameter = error.parameter { writer.string(parameter) } else { writer.raw("null") }
        writer.raw(",\"code\":")
        writer.string(error.code.name)
        writer.raw("}}")
    }

    static func errorType(_ code: GatewayError.Code) -> String {
        switch code {
        case .queueFull: "rate_limit_error"
        case .internalError, .workerFailed, .unavailable, .deadlineExceeded: "server_error"
        default: "invalid_request_error"
        }
    }

    /// Returns the HTTP status for an error code.
    static func httpStatus(_ code: GatewayError.Code) -> Int {
        switch code {
        case .invalidRequest, .invalidBody, .contextLengthExceeded: 400
        case .notFound, .modelNotFound: 404
        case .methodNotAllowed: 405
        case .payloadTooLarge: 413
        case .queueFull: 429
        case .cancelled: 499
        case .unavailable: 503
        case .deadlineExceeded: 504
        default: 500
        }
    }
}
