/// Token counts of one request, as reported in OpenAI's `usage` object.
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    public var totalTokens: Int { promptTokens + completionTokens }
}

/// Why a generation ended.
public enum FinishReason: String, Sendable, CaseIterable {
    /// The model produced its end-of-sequence token, or a stop sequence matched.
    case stop
    /// The request reached its maximum number of new tokens.
    case length
    /// The request was cancelled (by the client, a deadline or the server).
    case cancelled
}
