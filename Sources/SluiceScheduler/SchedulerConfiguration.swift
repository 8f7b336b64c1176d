/// Limits and timing of the scheduler. Every field has a documented default.
public struct SchedulerConfiguration: Sendable {
    /// Requests waiting for admission, over all models; past it a request is
    /// rejected at once (HTTP 429). Default 1024.
    public var maxQueue: Int = 1024
    /// When an idle worker receives a request, how long it waits for others to
    /// share the first step. Skipped when the worker's recent steps took less
    /// than this. Zero disables the window. Default 1 ms.
    public var batchWait: Duration = .milliseconds(1)
    /// Caps every worker's own maximum batch size; nil keeps the workers' values.
    public var maxBatchSize: Int?
    /// New tokens for a request that sets no maximum. Default 256.
    public var defaultMaxTokens: Int = 256
    /// The largest maximum a request may set. Default 4096.
    public var maxTokensCap: Int = 4096
    /// Time a request may take from arrival to its last token when it sets no
    /// deadline of its own; nil disables it. Default 10 minutes.
    public var defaultDeadline: Duration? = .seconds(600)
    /// Seconds a rejected client is told to wait before retrying (HTTP Retry-After). Default 1.
    public var retryAfterSeconds: Int = 1

    public init() {}

    /// The defaults listed above.
    public static let defaults = SchedulerConfiguration()
}
