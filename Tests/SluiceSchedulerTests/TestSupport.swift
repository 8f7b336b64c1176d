import Synchronization
import SluiceCore
@testable import SluiceScheduler

/// Runs work at once on the calling thread.
final class InlineExecutor: EventExecutor {
    func execute(_ work: @escaping @Sendable () -> Void) { work() }
    var inExecutor: Bool { true }
}

/// A token sink that records every call.
final class RecordingSink: TokenSink {
    struct Record {
        var events: [TokenEvent] = []
        var finish: (FinishReason, String, Usage)?
        var failure: GatewayError?
        var failureUsage: Usage?
    }

    let executor: any EventExecutor = InlineExecutor()
    private let record = Mutex(Record())
    private let ended = ConditionLock()

    func token(_ event: TokenEvent) { record.withLock { $0.events.append(event) } }

    func finish(_ reason: FinishReason, text: String, usage: Usage) {
        record.withLock { $0.finish = (reason, text, usage) }
        ended.broadcast()
    }

    func fail(_ error: GatewayError, usage: Usage) {
        record.withLock {
            $0.failure = error
            $0.failureUsage = usage
        }
        ended.broadcast()
    }

    var events: [TokenEvent] { record.withLock { $0.events } }
    var text: String { record.withLock { $0.events.map(\.text).joined() + ($0.finish?.1 ?? "") } }
    var finishReason: FinishReason? { record.withLock { $0.finish?.0 } }
    var usage: Usage? { record.withLock { $0.finish?.2 ?? $0.failureUsage } }
    var failure: GatewayError? { record.withLock { $0.failure } }
    var isEnded: Bool { record.withLock { $0.finish != nil || $0.failure != nil } }

    /// Waits up to `timeout` for `finish` or `fail`; returns whether it came.
    func waitUntilEnded(timeout: Duration = .seconds(10)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        return ended.withLock {
            while !isEnded && ContinuousClock.now < deadline {
                ended.wait(until: min(deadline, .now + .milliseconds(10)))
            }
            return isEnded
        }
    }
}

/// Applies the sink calls of `actions` in order, as the scheduler thread's delivery does.
func deliver(_ actions: SchedulerActions) {
    for call in actions.sinkCalls {
        call.run()
    }
}

/// A state machine with fake workers, driven by hand with a fake clock.
struct MachineHarness {
    var machine: SchedulerStateMachine
    var now = ContinuousClock.now
    var nextID: SequenceID = 1

    init(workers: [WorkerCapacity], configuration: SchedulerConfiguration = .init()) {
        machine = SchedulerStateMachine(
            workers: workers.enumerated().map { ("fake-\($0.offset)", 0, $0.element) }, groupCount: 1,
            configuration: configuration, metrics: SchedulerMetrics(registry: MetricsRegistry()))
    }

    static func capacity(batch: Int, kv: Int = 100_000) -> WorkerCapacity {
        WorkerCapacity(maxBatchSize: batch, kvBudgetTokens: kv, maxSequenceTokens: kv)
    }

    /// Enqueues a request and returns its sequence id and sink.
    mutating func enqueue(
        promptLength: Int = 3, maxNewTokens: Int = 8, stop: [String] = [], deadline: ContinuousClock.Instant? = nil
    ) -> (SequenceID, RecordingSink) {
        let sink = RecordingSink()
        let id = nextID
        nextID += 1
        let request = GenerationRequest(
            id: "request-\(id)", model: "fake", prompt: .tokens([]), stopSequences: stop, sink: sink, arrival: now)
        let entry = QueuedRequest(
            sequenceID: id, request: request, promptTokens: Array(repeating: 7, count: promptLength),
            maxNewTokens: maxNewTokens, deadline: deadline, workerGroup: 0)
        var actions = SchedulerActions()
        machine.enqueue(entry, now: now, actions: &actions)
        deliver(actions)
        return (id, sink)
    }

    /// Runs `schedule` and returns the plans sent.
    mutating func schedule() -> [(worker: Int, plan: StepPlan)] {
        var actions = SchedulerActions()
        machine.tick(now: now, actions: &actions)
        machine.schedule(now: now, actions: &actions)
        deliver(actions)
        return actions.plans
    }

    mutating func cancel(_ id: SequenceID, reason: CancellationReason = .clientDisconnected) {
        var actions = SchedulerActions()
        machine.cancel(id, reason: reason, now: now, actions: &actions)
        deliver(actions)
    }

    /// Completes a step on `worker` with one token per listed sequence.
    mutating func complete(
        worker: Int = 0, _ tokens: [(SequenceID, [UInt8])], endOfSequence: Set<SequenceID> = []
    ) {
        var actions = SchedulerActions()
        let stepTokens = tokens.map { id, bytes in
            StepToken(sequence: id, tokenID: 1, bytes: bytes, isEndOfSequence: endOfSequence.contains(id))
        }
        machine.stepCompleted(
            worker: worker, result: .success(StepResult(tokens: stepTokens, duration: .milliseconds(5))), now: now,
            actions: &actions)
        deliver(actions)
    }

    mutating func advance(_ duration: Duration) { now += duration }
}
