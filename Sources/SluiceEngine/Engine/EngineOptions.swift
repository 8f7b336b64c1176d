#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Settings of an `InferenceEngine`.
public struct EngineOptions: Sendable {
    /// Threads that run the matrix multiplications and attention, the calling thread included.
    public var threads: Int
    /// The maximum number of sequences running at once.
    public var maxBatchSize: Int
    /// KV cache tokens that running sequences may reserve in total; each reserves its prompt plus its max new tokens.
    public var kvBudgetTokens: Int
    /// The maximum number of tokens in one forward pass; a step with more (long prompts) runs several passes.
    public var maxPassTokens: Int
    /// Positions per KV cache page, the unit in which a sequence's cache grows and is freed.
    public var kvPageTokens: Int
    /// How long idle pool threads spin before they sleep, in microseconds.
    public var spinMicroseconds: Int

    /// Creates options; `threads` defaults to the number of online processors.
    public init(
        threads: Int? = nil, maxBatchSize: Int = 32, kvBudgetTokens: Int = 16384, maxPassTokens: Int = 256,
        kvPageTokens: Int = 64, spinMicroseconds: Int = 50
    ) {
        self.threads = threads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        self.maxBatchSize = maxBatchSize
        self.kvBudgetTokens = kvBudgetTokens
        self.maxPassTokens = maxPassTokens
        self.kvPageTokens = kvPageTokens
        self.spinMicroseconds = spinMicroseconds
    }

    func validate() throws(EngineError) {
        guard (1...256).contains(threads) else { throw .invalidOptions("threads is \(threads), expected 1 to 256") }
        guard maxBatchSize >= 1 else { throw .invalidOptions("maxBatchSize is \(maxBatchSize), expected at least 1") }
        guard kvBudgetTokens >= 1 else { throw .invalidOptions("kvBudgetTokens is \(kvBudgetTokens), expected at least 1") }
        guard maxPassTokens >= maxBatchSize else {
            throw .invalidOptions("maxPassTokens (\(maxPassTokens)) must be at least maxBatchSize (\(maxBatchSize))")
        }
        guard kvPageTokens >= 1 else { throw .invalidOptions("kvPageTokens is \(kvPageTokens), expected at least 1") }
        guard spinMicroseconds >= 0 else { throw .invalidOptions("spinMicroseconds is negative") }
    }
}
