/// A thread that runs submitted work in order, such as an event loop.
///
/// Token sinks name their executor so the scheduler can hand all events of
/// one step for one executor over in a single `execute` call: one wake-up per
/// loop per step, not one per token.
public protocol EventExecutor: AnyObject, Sendable {
    /// Runs `work` on this executor's thread, after work submitted earlier.
    /// Safe to call from any thread.
    func execute(_ work: @escaping @Sendable () -> Void)

    /// Whether the calling thread is this executor's thread.
    var inExecutor: Bool { get }

    /// Runs `work` on this executor's thread once the work of its current
    /// turn is done, before it next waits for events. Call it only on the
    /// executor's thread. A producer that hands many items to another thread
    /// during one turn uses it to wake that thread once, not once per item.
    func executeAtTurnEnd(_ work: @escaping () -> Void)
}

extension EventExecutor {
    /// Executors without turns run `work` at once.
    public func executeAtTurnEnd(_ work: @escaping () -> Void) { work() }
}
