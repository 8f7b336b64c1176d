import Synchronization
import SluiceCore

/// A model served by the scheduler, for `/v1/models` and request validation.
public struct ServedModel: Sendable {
    public let name: String
    public let tokenizer: any ModelTokenizer
    /// Workers serving the model.
    public let workerCount: Int
    /// The largest prompt plus new tokens any of its workers can hold.
    public let maxSequenceTokens: Int
}

/// The continuous micro-batching scheduler: every generation request from
/// every protocol goes through it.
///
/// `submit` validates and tokenizes requests on the caller's thread. The
/// state machine then admits them into workers' running batches at step
/// boundaries, turns step results into text events and hands each event loop
/// its share of a step in one task. It only submits plans, so it waits for a
/// worker only as long as that worker's `submit` takes to queue them.
///
/// One thread at a time runs the state machine, under `stateLock`: the
/// scheduler thread, which also keeps its timers, or an event loop that
/// posted messages during its turn and finds the lock free at the turn's
/// end. A request whose step finishes at once (the zero-cost simulated
/// accelerator, later a remote worker whose reply arrives on a loop) then
/// gets its response in the turn that read it, without two thread hand-offs.
public final class Scheduler: Sendable {
    private enum Message {
        case enqueue(QueuedRequest)
        case cancel(SequenceID, CancellationReason)
        case stepCompleted(worker: Int, Result<StepResult, GatewayError>)
    }

    private struct Inbox {
        var messages: [Message] = []
        var stopping = false
        var draining = false
    }

    public let configuration: SchedulerConfiguration
    private let workers: [any Worker]
    private let models: [ServedModel]
    private let metrics: SchedulerMetrics
    private let logger: Logger

    private let signal = ConditionLock()
    /// Guarded by `signal`.
    private nonisolated(unsafe) var inbox = Inbox()
    /// When the scheduler thread must next run even without messages: the
    /// state machine's earliest timer. Guarded by `signal`.
    private nonisolated(unsafe) var timerDeadline: ContinuousClock.Instant?
    /// Held while the state machine runs; see the type's documentation.
    private let stateLock = Mutex<Void>(())
    /// Guarded by `stateLock`.
    private nonisolated(unsafe) var state: SchedulerStateMachine
    /// Messages being processed; guarded by `stateLock`.
    private nonisolated(unsafe) var processing: [Message] = []
    /// Set while an event loop runs the state machine. Messages posted then
    /// wake no thread, because that loop takes them before it releases the lock.
    private let loopDriving = Atomic<Bool>(false)
    private let queued = Atomic<Int>(0)
    private let nextSequenceID = Atomic<UInt64>(1)
    private let accepting = Atomic<Bool>(true)
    private let idle = ConditionLock()
    private let activeCount = Atomic<Int>(0)
    /// Each worker's step completion handler, made once rather than per step.
    /// `start` sets it before any request can arrive; it is read under `stateLock`.
    private nonisolated(unsafe) var stepCompletions: [@Sendable (Result<StepResult, GatewayError>) -> Void] = []

    /// - Parameters:
    ///   - workers: the workers; those with the same `model` serve it together.
    ///   - registry: where the scheduler's metrics go.
    public init(
        workers: [any Worker], configuration: SchedulerConfiguration = .defaults,
        registry: MetricsRegistry = .shared, logger: Logger = Logger(label: "scheduler")
    ) {
        precondition(!workers.isEmpty, "the scheduler needs at least one worker")
        self.configuration = configuration
        self.workers = workers
        self.logger = logger
        self.metrics = SchedulerMetrics(registry: registry)

        var names: [String] = []
        var groups: [Int] = []
        for worker in workers {
            if let existing = names.firstIndex(of: worker.model) {
                groups.append(existing)
            } else {
                names.append(worker.model)
                groups.append(names.count - 1)
            }
        }
        models = names.enumerated().map { group, name in
            let members = workers.indices.filter { groups[$0] == group }.map { workers[$0] }
            return ServedModel(
                name: name, tokenizer: members[0].tokenizer, workerCount: members.count,
                maxSequenceTokens: members.map { min($0.capacity.kvBudgetTokens, $0.capacity.maxSequenceTokens) }.max()!)
        }
        state = SchedulerStateMachine(
            workers: workers.indices.map { (workers[$0].name, groups[$0], workers[$0].capacity) },
            groupCount: names.count, configuration: configuration, metrics: metrics)
    }

    /// The models served, in the order their first worker was given.
    public var servedModels: [ServedModel] { models }

    /// Starts the scheduler thread.
    public func start() {
        stepCompletions = workers.indices.map { index in
            { [weak self] result in self?.post(.stepCompleted(worker: index, result)) }
        }
        startThread { [self] in run() }
        logger.info("scheduler started", [
            ("workers", workers.count), ("models", models.map(\.name).joined(separator: ",")),
            ("max_queue", configuration.maxQueue),
        ])
    }

    // MARK: - Submission

    /// Validates and tokenizes `request` on the calling thread and queues it.
    ///
    /// On success the request's sink later receives its tokens and exactly one
    /// `finish` or `fail`, all on the sink's executor.
    /// - Throws: `GatewayError` (unknown model, invalid prompt or limits,
    ///   queue full, shutting down); the sink receives nothing then.
    public func submit(_ request: GenerationRequest) throws(GatewayError) {
        let entry: QueuedRequest
        do {
            entry = try prepare(request)
        } catch {
            metrics.rejectionsInvalid.increment()
            throw error
        }
        guard accepting.load(ordering: .relaxed) else {
            throw GatewayError(.unavailable, "The server is shutting down; retry on another instance.")
        }
        try reserveQueueSlot()
        activeCount.add(1, ordering: .relaxed)
        post(.enqueue(entry), from: request.sink.executor)
        let id = entry.sequenceID
        request.cancellation.onCancel { [weak self] reason in
            self?.post(.cancel(id, reason))
        }
    }

    private func prepare(_ request: GenerationRequest) throws(GatewayError) -> QueuedRequest {
        // Models are few: comparing names beats hashing one.
        guard let group = models.firstIndex(where: { $0.name == request.model }) else {
            let available = models.map(\.name).joined(separator: ", ")
            throw GatewayError(
                .modelNotFound, "The model '\(request.model)' does not exist; available models: \(available).",
                parameter: "model")
        }
        let model = models[group]

        let promptTokens: [Int32]
        switch request.prompt {
        case .text(let text):
            promptTokens = model.tokenizer.encode(text)
        case .tokens(let tokens):
            promptTokens = tokens
        case .chat(let messages):
            do {
                promptTokens = model.tokenizer.encode(try model.tokenizer.renderChat(messages))
            } catch let error as GatewayError {
                throw error
            } catch {
                throw GatewayError(.invalidRequest, "The chat template failed: \(error)", parameter: "messages")
            }
        }
        let promptParameter = if case .chat = request.prompt { "messages" } else { "prompt" }
        guard !promptTokens.isEmpty else {
            throw GatewayError(.invalidRequest, "The prompt is empty; it must contain at least one token.",
                parameter: promptParameter)
        }

        let limit = model.maxSequenceTokens
        let maxNewTokens: Int
        if let requested = request.maxTokens {
            guard requested >= 1 else {
                throw GatewayError(.invalidRequest, "max_tokens must be at least 1, got \(requested).",
                    parameter: "max_tokens")
            }
            guard requested <= configuration.maxTokensCap else {
                throw GatewayError(.invalidRequest,
                    "max_tokens is \(requested), above this server's limit of \(configuration.maxTokensCap).",
                    parameter: "max_tokens")
            }
            maxNewTokens = requested
        } else {
            maxNewTokens = max(1, min(configuration.defaultMaxTokens, limit - promptTokens.count))
        }
        guard promptTokens.count + maxNewTokens <= limit else {
            throw GatewayError(
                .contextLengthExceeded,
                "The prompt has \(promptTokens.count) tokens and max_tokens is \(maxNewTokens); together "
                    + "they exceed the model's limit of \(limit) tokens. Shorten the prompt or lower max_tokens.",
                parameter: request.maxTokens == nil ? promptParameter : "max_tokens")
        }

        let deadline = request.deadline ?? configuration.defaultDeadline.map { request.arrival + $0 }
        return QueuedRequest(
            sequenceID: nextSequenceID.wrappingAdd(1, ordering: .relaxed).oldValue, request: request,
            promptTokens: promptTokens, maxNewTokens: maxNewTokens, deadline: deadline, workerGroup: group)
    }

    private func reserveQueueSlot() throws(GatewayError) {
        var current = queued.load(ordering: .relaxed)
        while true {
            guard current < configuration.maxQueue else {
                metrics.rejectionsQueueFull.increment()
                throw GatewayError(
                    .queueFull, "The server's request queue is full (\(configuration.maxQueue) waiting); retry later.",
                    retryAfterSeconds: configuration.retryAfterSeconds)
            }
            let (exchanged, original) = queued.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Queues `message` and makes sure a thread runs the state machine soon.
    ///
    /// A message posted from its own executor's thread (an event loop) waits
    /// for the end of that executor's turn. The loop then runs the state
    /// machine itself unless another thread is running it, so the requests
    /// it read in one turn go over as one batch. Otherwise the scheduler
    /// thread is woken.
    private func post(_ message: Message, from executor: (any EventExecutor)? = nil) {
        signal.lock()
        inbox.messages.append(message)
        let wasEmpty = inbox.messages.count == 1
        signal.unlock()
        // A non-empty inbox already has a thread coming for it, and a driving
        // loop empties the inbox before it releases the lock.
        guard wasEmpty, !loopDriving.load(ordering: .sequentiallyConsistent) else { return }
        guard let executor, executor.inExecutor else {
            signal.signal()
            return
        }
        executor.executeAtTurnEnd { [self] in driveFromLoop() }
    }

    /// Most state machine iterations an event loop runs per turn. A request
    /// of one token needs three (admit and step, finish, release). A zero-cost
    /// worker keeps posting step completions while sequences run, so without
    /// a bound a loop could keep stepping other loops' streams and starve its
    /// own connections. Past the bound the scheduler thread takes over.
    public static let maxIterationsPerLoopTurn = 4

    /// Runs the state machine on the calling event loop until the inbox is
    /// empty, or wakes the scheduler thread when another thread has the lock
    /// or the loop ran its share of iterations.
    private func driveFromLoop() {
        var iterations = 0
        while true {
            let timerChanged: Bool? = stateLock.withLockIfAvailable { _ in
                loopDriving.store(true, ordering: .sequentiallyConsistent)
                var changed = false
                repeat {
                    changed = runIteration() || changed
                    iterations += 1
                } while iterations < Self.maxIterationsPerLoopTurn && !inboxIsEmpty()
                loopDriving.store(false, ordering: .sequentiallyConsistent)
                return changed
            }
            guard let timerChanged else {
                // The thread with the lock may already have read the inbox, so
                // the scheduler thread reads it again once the lock is free.
                signal.signal()
                return
            }
            if timerChanged { signal.signal() }
            // A message posted while `loopDriving` was set woke no thread.
            if inboxIsEmpty() { return }
            if iterations >= Self.maxIterationsPerLoopTurn {
                signal.signal()
                return
            }
        }
    }

    private func inboxIsEmpty() -> Bool {
        signal.withLock { inbox.messages.isEmpty && !inbox.draining }
    }

    // MARK: - Shutdown

    /// Stops accepting requests, lets running ones finish for up to `grace`,
    /// then cancels what is left and stops the workers.
    public func shutdown(grace: Duration) {
        accepting.store(false, ordering: .relaxed)
        let deadline = ContinuousClock.now + grace
        logger.info("scheduler draining", [
            ("active", activeCount.load(ordering: .relaxed)), ("grace_ms", Int(grace / .milliseconds(1))),
        ])
        idle.withLock {
            while activeCount.load(ordering: .relaxed) > 0 && ContinuousClock.now < deadline {
                idle.wait(until: min(deadline, .now + .milliseconds(50)))
            }
        }
        let left = activeCount.load(ordering: .relaxed)
        signal.withLock { inbox.draining = true }
        signal.signal()
        idle.withLock {
            let hardDeadline = ContinuousClock.now + .seconds(2)
            while activeCount.load(ordering: .relaxed) > 0 && ContinuousClock.now < hardDeadline {
                idle.wait(until: min(hardDeadline, .now + .milliseconds(20)))
            }
        }
        signal.withLock { inbox.stopping = true }
        signal.signal()
        for worker in workers { worker.shutdown() }
        logger.info("scheduler stopped", [("cancelled_at_shutdown", left)])
    }

    // MARK: - The scheduler thread

    private func run() {
        while true {
            signal.lock()
            if inbox.messages.isEmpty && !inbox.stopping && !inbox.draining {
                signal.wait(until: timerDeadline)
            }
            let stopping = inbox.stopping
            signal.unlock()
            if stopping { return }
            stateLock.withLock { _ in _ = runIteration() }
        }
    }

    /// Takes the inbox, feeds it to the state machine with the current time,
    /// and performs the resulting actions. Call with `stateLock` held.
    /// - Returns: whether the state machine's next timer changed, which the
    ///   scheduler thread must learn when another thread ran the iteration.
    private func runIteration() -> Bool {
        signal.lock()
        swap(&processing, &inbox.messages)
        let draining = inbox.draining
        inbox.draining = false
        signal.unlock()

        let now = ContinuousClock.now
        var actions = SchedulerActions()
        for message in processing {
            switch message {
            case .enqueue(let entry):
                state.enqueue(entry, now: now, actions: &actions)
            case .cancel(let id, let reason):
                state.cancel(id, reason: reason, now: now, actions: &actions)
            case .stepCompleted(let worker, let result):
                if case .failure(let error) = result {
                    logger.error("worker step failed", [("worker", workers[worker].name), ("error", error)])
                }
                state.stepCompleted(worker: worker, result: result, now: now, actions: &actions)
            }
        }
        processing.removeAll(keepingCapacity: true)
        if draining {
            state.cancelAll(reason: .shutdown, now: now, actions: &actions)
        }
        state.tick(now: now, actions: &actions)
        state.schedule(now: now, actions: &actions)
        perform(actions)

        let next = state.nextTimer
        return signal.withLock {
            guard next != timerDeadline else { return false }
            timerDeadline = next
            return true
        }
    }

    private func perform(_ actions: SchedulerActions) {
        if actions.dequeued > 0 {
            queued.subtract(actions.dequeued, ordering: .relaxed)
        }
        for (index, plan) in actions.plans {
            workers[index].submit(plan, completion: stepCompletions[index])
        }
        deliver(actions.sinkCalls)
    }

    /// Hands each executor its sink calls of this step in one task.
    private func deliver(_ calls: [SinkCall]) {
        guard !calls.isEmpty else { return }
        // Event loops are few, so a linear search beats hashing.
        var batches: [(executor: any EventExecutor, calls: [SinkCall])] = []
        var ended = 0
        for call in calls {
            let executor = call.sink.executor
            if let index = batches.firstIndex(where: { $0.executor === executor }) {
                batches[index].calls.append(call)
            } else {
                batches.append((executor, [call]))
            }
            if case .tokens = call {} else { ended += 1 }
        }
        for batch in batches {
            let calls = SinkCallBatch(batch.calls)
            batch.executor.execute {
                calls.run()
            }
        }
        if ended > 0 {
            let remaining = activeCount.subtract(ended, ordering: .relaxed).newValue
            if remaining == 0 { idle.broadcast() }
        }
    }
}

/// One executor's sink calls of a step.
///
/// `@unchecked Sendable` is safe because the scheduler thread builds it and
/// hands it over whole to the executor, the only thread that reads it
/// afterwards. The sinks it calls are themselves `Sendable`.
private final class SinkCallBatch: @unchecked Sendable {
    let calls: [SinkCall]

    init(_ calls: [SinkCall]) { self.calls = calls }

    func run() {
        for call in calls {
            call.run()
        }
    }
}
