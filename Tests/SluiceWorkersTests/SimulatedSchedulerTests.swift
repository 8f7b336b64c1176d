#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import SluiceCore
import SluiceScheduler
@testable import SluiceWorkers

/// Runs sink calls on a private serial thread, like an event loop.
final class SerialExecutor: EventExecutor {
    private let thread = StepThread()
    func execute(_ work: @escaping @Sendable () -> Void) { thread.run(work) }
    var inExecutor: Bool { false }
}

/// An executor that treats every calling thread as its own and runs work at
/// once, so a request submitted from a test thread is driven as an event
/// loop drives it.
final class CallerExecutor: EventExecutor {
    func execute(_ work: @escaping @Sendable () -> Void) { work() }
    var inExecutor: Bool { true }
}

/// Records a request's output and signals when it ends.
final class CollectingSink: TokenSink {
    let executor: any EventExecutor
    private let state = Mutex<(events: [TokenEvent], reason: FinishReason?, error: GatewayError?, usage: Usage?)>(
        ([], nil, nil, nil))
    private let ended = ConditionLock()
    private let onToken: (@Sendable (Int) -> Void)?

    init(executor: any EventExecutor, onToken: (@Sendable (Int) -> Void)? = nil) {
        self.executor = executor
        self.onToken = onToken
    }

    func token(_ event: TokenEvent) {
        let count = state.withLock { state in
            state.events.append(event)
            return state.events.count
        }
        onToken?(count)
    }

    func finish(_ reason: FinishReason, text: String, usage: Usage) {
        state.withLock { $0.reason = reason; $0.usage = usage }
        ended.broadcast()
    }

    func fail(_ error: GatewayError, usage: Usage) {
        state.withLock { $0.error = error; $0.usage = usage }
        ended.broadcast()
    }

    var events: [TokenEvent] { state.withLock { $0.events } }
    var reason: FinishReason? { state.withLock { $0.reason } }
    var error: GatewayError? { state.withLock { $0.error } }

    func wait(timeout: Duration = .seconds(20)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        return ended.withLock {
            while state.withLock({ $0.reason == nil && $0.error == nil }) && ContinuousClock.now < deadline {
                ended.wait(until: min(deadline, .now + .milliseconds(5)))
            }
            return state.withLock { $0.reason != nil || $0.error != nil }
        }
    }
}

@Suite struct SimulatedSchedulerTests {
    private func makeScheduler(
        base: Duration = .milliseconds(2), perSequence: Duration = .zero, maxBatch: Int = 8,
        configure: (inout SchedulerConfiguration) -> Void = { _ in }
    ) -> (Scheduler, MetricsRegistry) {
        var options = SimulatedAccelerator.Options()
        options.stepBase = base
        options.stepPerSequence = perSequence
        options.maxBatchSize = maxBatch
        var configuration = SchedulerConfiguration()
        configure(&configuration)
        let registry = MetricsRegistry()
        let scheduler = Scheduler(
            workers: [SimulatedAccelerator(options: options)], configuration: configuration, registry: registry)
        scheduler.start()
        return (scheduler, registry)
    }

    private func request(
        _ sink: CollectingSink, maxTokens: Int = 8, model: String = "simulated", prompt: String = "hello there",
        cancellation: Cancellation = Cancellation()
    ) -> GenerationRequest {
        GenerationRequest(
            id: "test", model: model, prompt: .text(prompt), maxTokens: maxTokens, sink: sink,
            cancellation: cancellation)
    }

    @Test func streamsDeterministicTokensToTheEnd() throws {
        let (scheduler, _) = makeScheduler()
        defer { scheduler.shutdown(grace: .zero) }
        let sink = CollectingSink(executor: SerialExecutor())
        try scheduler.submit(request(sink, maxTokens: 5))
        #expect(sink.wait())
        #expect(sink.reason == .length)
        #expect(sink.events.map(\.text).joined() == " the quick brown fox jumps")
        #expect(sink.events.map(\.index) == [0, 1, 2, 3, 4])
    }

    @Test func loopDrivesOnlyBoundedIterations() throws {
        // No micro-batch window: the first step would otherwise wait for the
        // scheduler thread's timer.
        let (scheduler, _) = makeScheduler(base: .zero) { $0.batchWait = .zero }
        defer { scheduler.shutdown(grace: .zero) }
        let submitter = pthread_self()
        let tokensOnSubmitter = Atomic<Int>(0)
        let sink = CollectingSink(executor: CallerExecutor()) { _ in
            if pthread_equal(pthread_self(), submitter) != 0 { tokensOnSubmitter.add(1, ordering: .relaxed) }
        }
        // Zero-cost steps run inline, so the submitting thread drives the
        // state machine; after its share the scheduler thread finishes the rest.
        try scheduler.submit(request(sink, maxTokens: 200))
        #expect(sink.wait())
        #expect(sink.reason == .length)
        #expect(sink.events.count == 200)
        #expect(tokensOnSubmitter.load(ordering: .relaxed) > 0)
        #expect(tokensOnSubmitter.load(ordering: .relaxed) <= Scheduler.maxIterationsPerLoopTurn)
    }

    @Test func unknownModelIsRejectedAtSubmit() {
        let (scheduler, _) = makeScheduler()
        defer { scheduler.shutdown(grace: .zero) }
        let sink = CollectingSink(executor: SerialExecutor())
        #expect(throws: GatewayError.self) { try scheduler.submit(request(sink, model: "gpt-9")) }
        do {
            try scheduler.submit(request(sink, model: "gpt-9"))
        } catch {
            #expect(error.code == .modelNotFound)
            #expect(error.parameter == "model")
        }
    }

    @Test func tooManyTokensIsRejectedWithTheNumbers() {
        var options = SimulatedAccelerator.Options()
        options.maxSequenceTokens = 16
        let scheduler = Scheduler(workers: [SimulatedAccelerator(options: options)], registry: MetricsRegistry())
        scheduler.start()
        defer { scheduler.shutdown(grace: .zero) }
        let sink = CollectingSink(executor: SerialExecutor())
        do {
            try scheduler.submit(request(sink, maxTokens: 15, prompt: "one two three"))
            Issue.record("expected a context length error")
        } catch {
            #expect(error.code == .contextLengthExceeded)
            #expect(error.message.contains("3 tokens"))
            #expect(error.message.contains("16"))
        }
    }

    @Test func fullQueueRejectsAtOnce() throws {
        let (scheduler, registry) = makeScheduler(base: .milliseconds(50), maxBatch: 1) { $0.maxQueue = 2 }
        defer { scheduler.shutdown(grace: .zero) }
        let executor = SerialExecutor()
        let running = CollectingSink(executor: executor)
        try scheduler.submit(request(running, maxTokens: 50))
        // Let the first request reach the worker so it no longer counts as queued.
        while registry.render().contains("sluice_running_sequences 0") { usleepMilliseconds(1) }
        try scheduler.submit(request(CollectingSink(executor: executor)))
        try scheduler.submit(request(CollectingSink(executor: executor)))
        do {
            try scheduler.submit(request(CollectingSink(executor: executor)))
            Issue.record("expected the queue to be full")
        } catch {
            #expect(error.code == .queueFull)
            #expect(error.retryAfterSeconds != nil)
        }
        #expect(registry.render().contains("sluice_rejections_total{reason=\"queue_full\"} 1"))
    }

    @Test func cancelledSequenceLeavesWithinOneStep() throws {
        let (scheduler, registry) = makeScheduler(base: .milliseconds(5))
        defer { scheduler.shutdown(grace: .zero) }
        let cancellation = Cancellation()
        let sink = CollectingSink(executor: SerialExecutor()) { count in
            if count == 3 { cancellation.cancel(.clientDisconnected) }
        }
        try scheduler.submit(request(sink, maxTokens: 1000, cancellation: cancellation))
        #expect(sink.wait())
        #expect(sink.error?.code == .cancelled)
        usleepMilliseconds(30)
        let metrics = registry.render()
        #expect(metrics.contains("sluice_cancellations_total{reason=\"client_disconnected\"} 1"))
        #expect(metrics.contains("sluice_cancellation_release_seconds_count 1"))
        // At most one step ran for the sequence after the cancellation.
        let discarded = metricValue(metrics, "sluice_discarded_tokens_total")
        #expect(discarded <= 1)
        #expect(metrics.contains("sluice_batch_size{worker=\"simulated-0\"} 0"))
    }

    @Test func concurrentRequestsShareSteps() throws {
        let (scheduler, registry) = makeScheduler(base: .milliseconds(10), maxBatch: 16)
        defer { scheduler.shutdown(grace: .zero) }
        let executor = SerialExecutor()
        let sinks = (0..<16).map { _ in CollectingSink(executor: executor) }
        for sink in sinks { try scheduler.submit(request(sink, maxTokens: 10)) }
        for sink in sinks { #expect(sink.wait()) }
        #expect(sinks.allSatisfy { $0.events.count == 10 })
        // 16 requests of 10 tokens in one batch take about 10 steps, not 160.
        let steps = metricValue(registry.render(), "sluice_worker_step_seconds_count{worker=\"simulated-0\"}")
        #expect(steps < 40)
    }

    @Test func deadlineEndsRunningRequest() throws {
        let (scheduler, _) = makeScheduler(base: .milliseconds(5))
        defer { scheduler.shutdown(grace: .zero) }
        let sink = CollectingSink(executor: SerialExecutor())
        var generation = request(sink, maxTokens: 4000)
        generation.deadline = .now + .milliseconds(50)
        try scheduler.submit(generation)
        #expect(sink.wait())
        #expect(sink.error?.code == .deadlineExceeded)
        #expect(!sink.events.isEmpty)
    }
}

func usleepMilliseconds(_ milliseconds: Int) {
    let lock = ConditionLock()
    lock.withLock { lock.wait(until: .now + .milliseconds(milliseconds)) }
}

/// The value of the first sample line starting with `name` (with labels if given).
func metricValue(_ text: String, _ name: String) -> Double {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.split(separator: " ").last!) ?? -1
    }
    return -1
}
