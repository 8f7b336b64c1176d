/// How the next token is chosen from the model's logits.
public struct SamplingParameters: Sendable, Equatable {
    /// Softmax temperature; 0 selects greedy decoding.
    public var temperature: Float
    /// Nucleus sampling: the smallest set of tokens whose probability sum reaches this value; 1 disables it.
    public var topP: Float
    /// Sample among the `topK` most likely tokens; 0 disables it.
    public var topK: Int
    /// Seed of the request's random generator; the same seed and request give the same text.
    public var seed: UInt64?
    /// Divides positive logits (multiplies negative ones) of tokens already in the sequence; 1 disables it.
    public var repetitionPenalty: Float

    public init(
        temperature: Float = 1, topP: Float = 1, topK: Int = 0, seed: UInt64? = nil, repetitionPenalty: Float = 1
    ) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.seed = seed
        self.repetitionPenalty = repetitionPenalty
    }

    /// Greedy decoding: always the most likely token.
    public static let greedy = SamplingParameters(temperature: 0)
}
