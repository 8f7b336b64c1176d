import SluiceCore

/// A sequence to start in a step: its prompt is processed (prefill) and its first token sampled in that step.
public struct EngineSequenceAdmission: Sendable {
    /// The caller's id for the sequence, unique among running sequences.
    public var id: UInt64
    /// The prompt's token ids; at least one.
    public var promptTokens: [Int32]
    /// The sampling parameters of the sequence's tokens.
    public var sampling: SamplingParameters
    /// The number of tokens the sequence may produce; its KV reservation is the prompt plus this.
    public var maxNewTokens: Int

    public init(id: UInt64, promptTokens: [Int32], sampling: SamplingParameters, maxNewTokens: Int) {
        self.id = id
        self.promptTokens = promptTokens
        self.sampling = sampling
        self.maxNewTokens = maxNewTokens
    }
}

/// The token a step produced for one sequence.
public struct EngineStepToken: Sendable, Equatable {
    public var sequence: UInt64
    public var tokenID: Int32

    public init(sequence: UInt64, tokenID: Int32) {
        self.sequence = sequence
        self.tokenID = tokenID
    }
}
