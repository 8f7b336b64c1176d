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
}
