import SluiceCore

/// A dedicated thread that runs a worker's steps one after another, so the
/// scheduler thread never waits for a step.
final class StepThread: Sendable {
    private struct State {
        var queue: [@Sendable () -> Void] = []
        var stopped = false
    }

    private let signal = ConditionLock()
    /// Guarded by `signal`.
    private nonisolated(unsafe) var state = State()

    init() {
        startThread { [self] in loop() }
    }

    /// Queues `work` to run on the thread after earlier work.
    func run(_ work: @escaping @Sendable () -> Void) {
        signal.withLock { state.queue.append(work) }
        signal.signal()
    }

    /// Stops the thread after the work it is running; queued work is dropped.
    func stop() {
        signal.withLock {
            state.stopped = true
            state.queue = []
        }
        signal.signal()
    }

    private func loop() {
        while true {
            signal.lock()
            while state.queue.isEmpty && !state.stopped {
                signal.wait(until: nil)
            }
            if state.stopped {
                signal.unlock()
                return
            }
            let work = state.queue.removeFirst()
            signal.unlock()
            work()
        }
    }
}
