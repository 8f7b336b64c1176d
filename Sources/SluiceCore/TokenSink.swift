/// One piece of a request's output: the text a step added.
public struct TokenEvent: Sendable, Equatable {
    /// The token the model produced in this step.
    public var tokenID: Int32
    /// Text that is now safe to send: never part of a UTF-8 character, never
    /// text that could still begin a stop sequence. May be empty while text is held back.
    public var text: String
    /// Zero-based position of the token among the request's generated tokens.
    public var index: Int

    public init(tokenID: Int32, text: String, index: Int) {
        self.tokenID = tokenID
        self.text = text
        self.index = index
    }
}

/// Where a request's output goes. Each protocol implements it on its own
/// event loop.
///
/// The scheduler calls every method on `executor`, in order: any number of
/// `token` calls, then exactly one `finish` or `fail`. Nothing is called
/// after that.
public protocol TokenSink: AnyObject, Sendable {
    /// The executor (event loop) on which the sink's methods must run.
    var executor: any EventExecutor { get }

    /// Delivers the output of one step.
    func token(_ event: TokenEvent)

    /// Ends the output normally.
    /// - Parameters:
    ///   - reason: why generation stopped.
    ///   - text: text held back until the end (a partial stop-sequence prefix
    ///     that never completed), to send before finishing; may be empty.
    ///   - usage: the request's token counts.
    func finish(_ reason: FinishReason, text: String, usage: Usage)

    /// Ends the output with an error; the request produced `usage` before it failed.
    func fail(_ error: GatewayError, usage: Usage)
}
