import SluiceCore

/// A validated `/v1/completions`, `/v1/chat/completions` or `/v1/generate` request.
struct OpenAIRequest: Sendable {
    enum Kind: Sendable {
        case completion
        case chat
        /// The native NDJSON route.
        case generate
    }

    var kind: Kind
    var model: String
    var prompt: Prompt
    var stream: Bool
    var includeUsage: Bool
    var sampling: SamplingParameters
    var maxTokens: Int?
    var stopSequences: [String]
    var user: String?
    /// Seconds the client allows; nil uses the server's default deadline.
    var timeoutSeconds: Double?
    /// Whether the end-of-sequence token ends generation.
    var ignoreEndOfSequence: Bool
}

/// Parses and validates OpenAI-shaped request bodies. Every error names the
/// offending field in `parameter` and states which values are accepted.
enum OpenAIRequestParser {
    /// Most stop sequences a request may give, as OpenAI allows.
    static let maxStopSequences = 4

    static func parse(_ body: [UInt8], kind: OpenAIRequest.Kind) throws(GatewayError) -> OpenAIRequest {
        guard !body.isEmpty else {
            throw GatewayError(.invalidBody, "The request body is empty; send a JSON object.")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw GatewayError(.invalidBody, "The request body is not valid JSON: \(error).")
        }
        guard case .object = json else {
            throw GatewayError(.invalidBody, "The request body must be a JSON object, not \(json.typeName).")
        }
        let fields = FieldReader(json)

        let model = try fields.requiredString("model")
        let prompt: Prompt
        switch kind {
        case .chat:
            prompt = .chat(try parseMessages(fields.required("messages")))
        case .completion:
            prompt = try parsePrompt(fields.required("prompt"))
        case .generate:
            if let messages = fields.optional("messages") {
                prompt = .chat(try parseMessages(messages))
            } else {
                prompt = try parsePrompt(fields.required("prompt"))
            }
        }

        let stream = try fields.bool("stream") ?? (kind == .generate)
        var includeUsage = false
        if let options = fields.optional("stream_options") {
            guard case .object = options else {
                throw invalidType("stream_options", expected: "an object", got: options)
            }
            let optionFields = FieldReader(options, prefix: "stream_options.")
            includeUsage = try optionFields.bool("include_usage") ?? false
            if !stream {
                throw GatewayError(
                    .invalidRequest, "stream_options is only allowed when stream is true.", parameter: "stream_options")
            }
        }

        var sampling = SamplingParameters(temperature: 1, topP: 1, topK: 0, seed: nil, repetitionPenalty: 1)
        if let temperature = try fields.number("temperature", in: 0...2) { sampling.temperature = Float(temperature) }
        if let topP = try fields.number("top_p", in: 0...1) {
            guard topP > 0 else {
                throw GatewayError(.invalidRequest, "top_p must be above 0 and at most 1, got 0.", parameter: "top_p")
            }
            sampling.topP = Float(topP)
        }
        if let topK = try fields.integer("top_k", in: 0...100_000) { sampling.topK = topK }
        if let seed = try fields.integer("seed", in: Int(Int64.min)...Int(Int64.max)) {
            sampling.seed = UInt64(bitPattern: Int64(seed))
        }
        if let penalty = try fields.number("repetition_penalty", in: 0.01...10) {
            sampling.repetitionPenalty = Float(penalty)
        }

        var maxTokens = try fields.integer("max_tokens", in: 1...Int(Int32.max))
        if let completionMax = try fields.integer("max_completion_tokens", in: 1...Int(Int32.max)) {
            maxTokens = completionMax
        }
        if let n = try fields.integer("n", in: Int.min...Int.max), n != 1 {
            throw GatewayError(
                .invalidRequest, "n must be 1: this server returns one choice per request, got \(n).", parameter: "n")
        }
        try fields.rejectUnsupported("logprobs", allowing: [.null, .bool(false)])
        try fields.rejectUnsupported("top_logprobs", allowing: [.null, .number(0, isInteger: true)])
        try fields.rejectUnsupported("echo", allowing: [.null, .bool(false)])
        try fields.rejectUnsupported("best_of", allowing: [.null, .number(1, isInteger: true)])
        try fields.rejectUnsupported("suffix", allowing: [.null])
        try fields.rejectUnsupported("tools", allowing: [.null, .array([])])
        try fields.rejectUnsupported("frequency_penalty", allowing: [.null, .number(0, isInteger: true)])
        try fields.rejectUnsupported("presence_penalty", allowing: [.null, .number(0, isInteger: true)])

        let stops = try parseStop(fields.optional("stop"))
        let user = try fields.string("user")
        let timeout = try fields.number("timeout", in: 0.001...86_400)
        let ignoreEOS = try fields.bool("ignore_eos") ?? false

        return OpenAIRequest(
            kind: kind, model: model, prompt: prompt, stream: stream, includeUsage: includeUsage, sampling: sampling,
            maxTokens: maxTokens, stopSequences: stops, user: user, timeoutSeconds: timeout,
            ignoreEndOfSequence: ignoreEOS)
    }

    private static func parsePrompt(_ value: JSONValue) throws(GatewayError) -> Prompt {
        switch value {
        case .string(let text):
            return .text(text)
        case .array(let elements):
            if elements.count == 1, case .string(let text) = elements[0] { return .text(text) }
            if !elements.isEmpty, elements.allSatisfy({ if case .number(_, true) = $0 { true } else { false } }) {
                var tokens: [Int32] = []
                for element in elements {
                    guard case .number(let number, _) = element, number >= 0, number <= Double(Int32.max) else {
                        throw GatewayError(
                            .invalidRequest, "prompt token ids must be non-negative integers.", parameter: "prompt")
                    }
                    tokens.append(Int32(number))
                }
                return .tokens(tokens)
            }
            throw GatewayError(
                .invalidRequest,
                "prompt must be a string, a list with one string, or a list of token ids; "
                    + "batches of several prompts are not supported (send one request each).",
                parameter: "prompt")
        default:
            throw invalidType("prompt", expected: "a string or a list of token ids", got: value)
        }
    }

    private static func parseMessages(_ value: JSONValue) throws(GatewayError) -> [ChatMessage] {
        guard case .array(let elements) = value else {
            throw invalidType("messages", expected: "an array of message objects", got: value)
        }
        guard !elements.isEmpty else {
            throw GatewayError(.invalidRequest, "messages must contain at least one message.", parameter: "messages")
        }
        var messages: [ChatMessage] = []
        for (index, element) in elements.enumerated() {
            let path = "messages[\(index)]"
            guard case .object = element else { throw invalidType(path, expected: "an object", got: element) }
            let fields = FieldReader(element, prefix: "\(path).")
            let role = try fields.requiredString("role")
            guard ["system", "developer", "user", "assistant", "tool"].contains(role) else {
                throw GatewayError(
                    .invalidRequest,
                    "\(path).role must be one of system, developer, user, assistant or tool, got '\(role)'.",
                    parameter: "\(path).role")
            }
            let content: String
            switch fields.optional("content") {
            case .string(let text)?:
                content = text
            case .null?, nil:
                content = ""
            case .array(let parts)?:
                var text = ""
                for (partIndex, part) in parts.enumerated() {
                    guard case .string("text")? = part["type"], case .string(let partText)? = part["text"] else {
                        throw GatewayError(
                            .invalidRequest,
                            "\(path).content[\(partIndex)] must be a text part ({\"type\": \"text\", \"text\": …}); "
                                + "this model accepts only text.",
                            parameter: "\(path).content")
                    }
                    text += partText
                }
                content = text
            case let other?:
                throw invalidType("\(path).content", expected: "a string or an array of text parts", got: other)
            }
            messages.append(ChatMessage(role: role == "developer" ? "system" : role, content: content))
        }
        return messages
    }

    private static func parseStop(_ value: JSONValue?) throws(GatewayError) -> [String] {
        switch value {
        case nil, .null?:
            return []
        case .string(let text)?:
            return text.isEmpty ? [] : [text]
        case .array(let elements)?:
            guard elements.count <= maxStopSequences else {
                throw GatewayError(
                    .invalidRequest, "stop may list at most \(maxStopSequences) sequences, got \(elements.count).",
                    parameter: "stop")
            }
            var stops: [String] = []
            for element in elements {
                guard case .string(let text) = element else {
                    throw invalidType("stop", expected: "a string or a list of strings", got: element)
                }
                if !text.isEmpty { stops.append(text) }
            }
            return stops
        case let other?:
            throw invalidType("stop", expected: "a string or a list of strings", got: other)
        }
    }

    static func invalidType(_ field: String, expected: String, got value: JSONValue) -> GatewayError {
        GatewayError(.invalidRequest, "\(field) must be \(expected), got \(value.typeName).", parameter: field)
    }
}

/// Reads typed fields of a JSON object, producing errors that name the field.
private struct FieldReader {
    let object: JSONValue
    let prefix: String

    init(_ object: JSONValue, prefix: String = "") {
        self.object = object
        self.prefix = prefix
    }

    func optional(_ name: String) -> JSONValue? { object[name] }

    func required(_ name: String) throws(GatewayError) -> JSONValue {
        guard let value = object[name], value != .null else {
            throw GatewayError(.invalidRequest, "\(prefix)\(name) is required.", parameter: prefix + name)
        }
        return value
    }

    func requiredString(_ name: String) throws(GatewayError) -> String {
        let value = try required(name)
        guard case .string(let text) = value else {
            throw OpenAIRequestParser.invalidType(prefix + name, expected: "a string", got: value)
        }
        return text
    }

    func string(_ name: String) throws(GatewayError) -> String? {
        switch object[name] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case let other?: throw OpenAIRequestParser.invalidType(prefix + name, expected: "a string", got: other)
        }
    }

    func bool(_ name: String) throws(GatewayError) -> Bool? {
        switch object[name] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        case let other?: throw OpenAIRequestParser.invalidType(prefix + name, expected: "a boolean", got: other)
        }
    }

    func number(_ name: String, in range: ClosedRange<Double>) throws(GatewayError) -> Double? {
        switch object[name] {
        case nil, .null?: return nil
        case .number(let value, _)?:
            guard range.contains(value) else {
                throw GatewayError(
                    .invalidRequest,
                    "\(prefix)\(name) must be between \(Self.format(range.lowerBound)) and "
                        + "\(Self.format(range.upperBound)), got \(Self.format(value)).",
                    parameter: prefix + name)
            }
            return value
        case let other?: throw OpenAIRequestParser.invalidType(prefix + name, expected: "a number", got: other)
        }
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws(GatewayError) -> Int? {
        switch object[name] {
        case nil, .null?: return nil
        case .number(let value, let isInteger)?:
            guard isInteger || value == value.rounded() else {
                throw GatewayError(
                    .invalidRequest, "\(prefix)\(name) must be an integer, got \(value).", parameter: prefix + name)
            }
            guard value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
                let bounds =
                    range.upperBound == Int.max || range.upperBound == Int(Int32.max)
                    ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
                throw GatewayError(
                    .invalidRequest, "\(prefix)\(name) must be \(bounds), got \(Self.format(value)).",
                    parameter: prefix + name)
            }
            return Int(value)
        case let other?: throw OpenAIRequestParser.invalidType(prefix + name, expected: "an integer", got: other)
        }
    }

    /// Rejects a field this server does not implement unless it has one of the values that mean "off".
    func rejectUnsupported(_ name: String, allowing: [JSONValue]) throws(GatewayError) {
        guard let value = object[name], !allowing.contains(value) else { return }
        throw GatewayError(
            .invalidRequest, "\(prefix)\(name) is not supported by this server; omit it.", parameter: prefix + name)
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
