/// A value that belongs to one event loop, wrapped so that it can travel
/// through `Sendable` closures and types (a token sink holding a responder,
/// say) and be used again only on that loop.
public struct LoopBound<Value>: @unchecked Sendable {
    // Safe to share: `value` is reachable only through the accessor below,
    // which stops the program unless the caller is on `eventLoop`'s thread,
    // so the value is never touched by two threads.

    /// The loop the value belongs to.
    public let eventLoop: EventLoop
    private let storage: Value

    /// Wraps `value`; must be called on `eventLoop`'s thread.
    public init(_ value: Value, eventLoop: EventLoop) {
        precondition(eventLoop.inEventLoop, "LoopBound created off its event loop's thread")
        self.eventLoop = eventLoop
        self.storage = value
    }

    /// The wrapped value. Stops the program when read off `eventLoop`'s
    /// thread, in release builds too, because that read would be a data race.
    public var value: Value {
        precondition(eventLoop.inEventLoop, "LoopBound value read off its event loop's thread")
        return storage
    }
}
