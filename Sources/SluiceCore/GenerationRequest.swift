/// One message of a chat conversation, as in OpenAI's `messages` array.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The input a request gives the model to continue.
public enum Prompt: Sendable, Equatable {
    /// Plain text, tokenized with the model's tokenizer (special tokens parsed).
    case text(String)
    /// Token ids, used as they are.
    case tokens([Int32])
    /// A chat conversation, rendered by the model's chat template with the generation prompt added.
    case chat([ChatMessage])
}

/// A generation request as every protocol hands it to the scheduler.
public struct GenerationRequest: Sendable {
    /// Identifier used in logs and responses.
    public var id: String
    /// The model name the client asked for.
    public var model: String
    public var prompt: Prompt
    public var sampling: SamplingParameters
    /// Maximum number of tokens to generate; nil uses the server's default.
    public var maxTokens: Int?
    /// Generation stops before any of these strings; the stop string itself is not sent.
    public var stopSequences: [String]
    /// Whether the end-of-sequence token ends generation (false lets it run to `maxTokens`).
    public var stopAtEndOfSequence: Bool
    /// When the request must be done; nil uses the server's default.
    public var deadline: ContinuousClock.Instant?
    /// The destination of the request's output.
    public var sink: any TokenSink
    /// Set by the protocol layer when the client goes away or cancels.
    public var cancellation: Cancellation
    /// When the request arrived, for queue-time and time-to-first-token metrics.
    public var arrival: ContinuousClock.Instant

    public init(
        id: String,
        model: String,
        prompt: Prompt,
        sampling: SamplingParameters = .greedy,
        maxTokens: Int? = nil,
        stopSequences: [String] = [],
        stopAtEndOfSequence: Bool = true,
        deadline: ContinuousClock.Instant? = nil,
        sink: any TokenSink,
        cancellation: Cancellation = Cancellation(),
        arrival: ContinuousClock.Instant = .now
    ) {
        self.id = id
        self.model = model
        self.prompt = prompt
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stopSequences = stopSequences
        self.stopAtEndOfSequence = stopAtEndOfSequence
        self.deadline = deadline
        self.sink = sink
        self.cancellation = cancellation
        self.arrival = arrival
    }
}
