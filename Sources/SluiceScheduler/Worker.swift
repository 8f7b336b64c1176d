import SluiceCore

/// Identifies one sequence on a worker for its whole life, from admission to release.
public typealias SequenceID = UInt64

/// The limits of one worker's running batch.
public struct WorkerCapacity: Sendable, Equatable {
    /// Maximum number of sequences in one step.
    public var maxBatchSize: Int
    /// Tokens of KV cache the worker can hold across all its sequences; a
    /// sequence needs its prompt length plus its maximum new tokens.
    public var kvBudgetTokens: Int
    /// Maximum tokens of one sequence (prompt plus generated tokens) the model supports.
    public var maxSequenceTokens: Int

    public init(maxBatchSize: Int, kvBudgetTokens: Int, maxSequenceTokens: Int) {
        self.maxBatchSize = maxBatchSize
        self.kvBudgetTokens = kvBudgetTokens
        self.maxSequenceTokens = maxSequenceTokens
    }
}

/// A model's tokenizer as the gateway and scheduler use it.
public protocol ModelTokenizer: Sendable {
    /// Token ids of `text`; special tokens written in the text (such as
    /// `<|im_start|>`) become their ids. No beginning-of-sequence token is added.
    func encode(_ text: String) -> [Int32]

    /// Renders a conversation with the model's chat template, with the
    /// generation prompt added.
    /// - Throws: `GatewayError` with code `invalidRequest` when the template rejects the messages.
    func renderChat(_ messages: [ChatMessage]) throws -> String

    /// Token ids that end a sequence (end of text, end of turn).
    var endOfSequenceTokenIDs: Set<Int32> { get }
}

/// A sequence to start in the next step.
public struct SequenceAdmission: Sendable {
    public var id: SequenceID
    public var promptTokens: [Int32]
    public var sampling: SamplingParameters
    /// Maximum tokens this sequence will generate. The worker may size its KV cache from it.
    public var maxNewTokens: Int

    public init(id: SequenceID, promptTokens: [Int32], sampling: SamplingParameters, maxNewTokens: Int) {
        self.id = id
        self.promptTokens = promptTokens
        self.sampling = sampling
        self.maxNewTokens = maxNewTokens
    }
}

/// The admissions and releases of one step.
public struct StepPlan: Sendable {
    /// Sequences that leave before the step runs; their KV cache is freed.
    public var release: [SequenceID]
    /// Sequences that join in this step: their prompts are processed (prefill)
    /// and each produces its first token.
    public var admit: [SequenceAdmission]

    public init(release: [SequenceID] = [], admit: [SequenceAdmission] = []) {
        self.release = release
        self.admit = admit
    }

    /// Whether the plan neither releases nor admits a sequence.
    public var isEmpty: Bool { release.isEmpty && admit.isEmpty }
}

/// The token one sequence produced in a step.
public struct StepToken: Sendable, Equatable {
    public var sequence: SequenceID
    public var tokenID: Int32
    /// The token's raw bytes: byte-level BPE symbols mapped back to bytes. Empty
    /// for special and control tokens, which produce no text.
    public var bytes: [UInt8]
    /// Whether this token ends the sequence (end-of-sequence or end-of-turn).
    public var isEndOfSequence: Bool

    public init(sequence: SequenceID, tokenID: Int32, bytes: [UInt8], isEndOfSequence: Bool) {
        self.sequence = sequence
        self.tokenID = tokenID
        self.bytes = bytes
        self.isEndOfSequence = isEndOfSequence
    }
}

/// The outcome of one step: one token for every sequence the worker runs.
public struct StepResult: Sendable {
    public var tokens: [StepToken]
    /// How long the worker computed.
    public var duration: Duration

    public init(tokens: [StepToken], duration: Duration) {
        self.tokens = tokens
        self.duration = duration
    }
}

/// Something that runs model steps: the in-process engine, the simulated
/// accelerator, or a remote worker process.
///
/// The scheduler sends at most one plan at a time and waits for its
/// completion before sending the next. The worker keeps every admitted
/// sequence running (one token per step) until a plan releases it. `submit`
/// calls come from whichever thread runs the scheduler's state machine (its
/// own thread or an event loop), never two at once.
public protocol Worker: AnyObject, Sendable {
    /// A name for logs and metrics, such as `engine-0`.
    var name: String { get }
    /// The model name clients use.
    var model: String { get }
    var capacity: WorkerCapacity { get }
    var tokenizer: any ModelTokenizer { get }

    /// Runs one step on the worker's own thread (or process) and calls
    /// `completion` from that thread. Must return without waiting for the step.
    func submit(_ plan: StepPlan, completion: @escaping @Sendable (Result<StepResult, GatewayError>) -> Void)

    /// Stops the worker's threads; no completion is called after this returns.
    func shutdown()
}
