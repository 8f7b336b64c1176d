import SluiceCore

/// A call to make on a request's token sink, on the sink's executor.
///
/// It keeps the request's entry rather than only its sink, so that the entry
/// (made on the request's event loop) is freed there after the call, not on
/// the thread that ran the state machine. Memory then goes back to the
/// allocator cache of the thread that took it.
enum SinkCall {
    case tokens(QueuedRequest, TokenEvent)
    case finish(QueuedRequest, FinishReason, text: String, usage: Usage)
    case fail(QueuedRequest, GatewayError, usage: Usage)

    var sink: any TokenSink {
        switch self {
        case .tokens(let entry, _), .finish(let entry, _, _, _), .fail(let entry, _, _): entry.request.sink
        }
    }

    /// Makes the call; run it on the sink's executor.
    func run() {
        switch self {
        case .tokens(let entry, let event):
            entry.request.sink.token(event)
        case .finish(let entry, let reason, let text, let usage):
            entry.request.sink.finish(reason, text: text, usage: usage)
        case .fail(let entry, let error, let usage):
            entry.request.sink.fail(error, usage: usage)
        }
    }
}

/// The work the scheduler thread performs after the state machine handled events.
struct SchedulerActions {
    /// Plans to send, by worker index.
    var plans: [(worker: Int, plan: StepPlan)] = []
    /// Sink calls, in order; the driver groups them by executor.
    var sinkCalls: [SinkCall] = []
    /// Requests that left the queue (admitted, cancelled or expired).
    var dequeued = 0

}

/// A request accepted for scheduling, with its prompt already tokenized.
///
/// A class, so that the hand-off to the scheduler thread and the state
/// machine's tables move one reference instead of copying the request.
final class QueuedRequest: Sendable {
    let sequenceID: SequenceID
    let request: GenerationRequest
    let promptTokens: [Int32]
    let maxNewTokens: Int
    let deadline: ContinuousClock.Instant?
    let workerGroup: Int
    let kvTokens: Int

    init(
        sequenceID: SequenceID, request: GenerationRequest, promptTokens: [Int32], maxNewTokens: Int,
        deadline: ContinuousClock.Instant?, workerGroup: Int
    ) {
        self.sequenceID = sequenceID
        self.request = request
        self.promptTokens = promptTokens
        self.maxNewTokens = maxNewTokens
        self.deadline = deadline
        self.workerGroup = workerGroup
        kvTokens = promptTokens.count + maxNewTokens
    }
}

/// The scheduler's logic as a pure state machine: it takes events (arrival,
/// cancellation, step completion, time) with the current time and returns
/// actions. One thread drives it; tests drive it with a fake clock.
struct SchedulerStateMachine {
    private enum Phase {
        case queued
        case assigned(worker: Int)  // In a worker's next plan, not yet sent.
        case running(worker: Int)
    }

    /// A request's scheduling state. A class, so that updating it per token
    /// neither copies it out of `sequences` nor hashes its id twice.
    private final class Sequence {
        let entry: QueuedRequest
        var phase: Phase = .queued
        var generated = 0
        var assembler = UTF8Assembler()
        var matcher: StopSequenceMatcher
        var lastTokenAt: ContinuousClock.Instant?

        init(entry: QueuedRequest) {
            self.entry = entry
            matcher = StopSequenceMatcher(stopSequences: entry.request.stopSequences)
        }

        var usage: Usage { Usage(promptTokens: entry.promptTokens.count, completionTokens: generated) }
    }

    struct WorkerSlot {
        let name: String
        let group: Int
        let capacity: WorkerCapacity
        var busy = false
        /// Number of sequences the worker runs (admitted in a sent plan and not finished).
        var runningCount = 0
        var pendingAdmit: [SequenceAdmission] = []
        var pendingRelease: [SequenceID] = []
        /// KV tokens reserved by running and pending sequences.
        var kvReserved = 0
        var windowDeadline: ContinuousClock.Instant?
        /// Moving average of recent step durations; nil before the first step.
        var stepEstimate: Duration?
        var stepTime: Histogram
        var batchSizeGauge: Gauge

        var activeCount: Int { runningCount + pendingAdmit.count }
    }

    private let configuration: SchedulerConfiguration
    private let metrics: SchedulerMetrics
    private(set) var workers: [WorkerSlot]
    private var sequences: [SequenceID: Sequence] = [:]
    /// FIFO queue per worker group; entries of cancelled requests are skipped when reached.
    private var queues: [[SequenceID]]
    private var queueHeads: [Int]
    private var queuedCount = 0
    private var deadlines = DeadlineHeap()
    /// When each cancelled running sequence was cancelled, until a plan releases it.
    private var cancelledAt: [SequenceID: ContinuousClock.Instant] = [:]

    init(
        workers: [(name: String, group: Int, capacity: WorkerCapacity)], groupCount: Int,
        configuration: SchedulerConfiguration, metrics: SchedulerMetrics
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.workers = workers.map { worker in
            var capacity = worker.capacity
            if let cap = configuration.maxBatchSize { capacity.maxBatchSize = min(capacity.maxBatchSize, cap) }
            return WorkerSlot(
                name: worker.name, group: worker.group, capacity: capacity,
                stepTime: metrics.stepTime(worker: worker.name), batchSizeGauge: metrics.batchSize(worker: worker.name))
        }
        queues = Array(repeating: [], count: groupCount)
        queueHeads = Array(repeating: 0, count: groupCount)
    }

    /// Requests waiting for admission.
    var queueLength: Int { queuedCount }

    /// Sequences running or about to run, over all workers.
    var activeSequenceCount: Int { workers.reduce(0) { $0 + $1.activeCount } }

    /// The earliest time at which `tick` has work to do, or nil.
    var nextTimer: ContinuousClock.Instant? {
        var earliest = deadlines.earliest
        for worker in workers {
            if let window = worker.windowDeadline, earliest == nil || window < earliest! { earliest = window }
        }
        return earliest
    }

    // MARK: - Events

    mutating func enqueue(_ entry: QueuedRequest, now: ContinuousClock.Instant, actions: inout SchedulerActions) {
        sequences[entry.sequenceID] = Sequence(entry: entry)
        queues[entry.workerGroup].append(entry.sequenceID)
        queuedCount += 1
        metrics.queueLength.set(queuedCount)
        if let deadline = entry.deadline {
            deadlines.insert(deadline, entry.sequenceID)
            // Entries of requests that already ended stay until due; rebuild
            // the heap when they outnumber live ones so memory stays bounded.
            if deadlines.count > 2 * sequences.count + 1024 {
                deadlines.removeAll { sequences[$0] == nil }
            }
        }
    }

    mutating func cancel(
        _ id: SequenceID, reason: CancellationReason, now: ContinuousClock.Instant, actions: inout SchedulerActions
    ) {
        guard let sequence = sequences.removeValue(forKey: id) else { return }
        metrics.cancellations(reason).increment()
        metrics.requestsFinished(.cancelled).increment()

        switch sequence.phase {
        case .queued:
            queuedCount -= 1
            actions.dequeued += 1
            metrics.queueLength.set(queuedCount)
        case .assigned(let index):
            workers[index].pendingAdmit.removeAll { $0.id == id }
            workers[index].kvReserved -= sequence.entry.kvTokens
            if workers[index].pendingAdmit.isEmpty && workers[index].runningCount == 0 {
                workers[index].windowDeadline = nil
            }
        case .running(let index):
            removeRunning(id, kvTokens: sequence.entry.kvTokens, worker: index)
            cancelledAt[id] = now
        }
        actions.sinkCalls.append(.fail(sequence.entry, Self.error(for: reason), usage: sequence.usage))
    }

    mutating func stepCompleted(
        worker index: Int, result: Result<StepResult, GatewayError>, now: ContinuousClock.Instant,
        actions: inout SchedulerActions
    ) {
        workers[index].busy = false
        switch result {
        case .failure(let error):
            failAll(onWorker: index, error: error, actions: &actions)
        case .success(let step):
            recordStepTime(step.duration, worker: index)
            for token in step.tokens {
                handle(token, worker: index, now: now, actions: &actions)
            }
        }
        workers[index].batchSizeGauge.set(workers[index].runningCount)
    }

    /// Expires deadlines and closes micro-batch windows whose time has come.
    mutating func tick(now: ContinuousClock.Instant, actions: inout SchedulerActions) {
        while let (_, id) = deadlines.popIfDue(now) {
            guard sequences[id] != nil else { continue }
            cancel(id, reason: .deadline, now: now, actions: &actions)
        }
    }

    /// Admits waiting requests (FIFO per model) and sends plans to idle workers.
    mutating func schedule(now: ContinuousClock.Instant, actions: inout SchedulerActions) {
        for group in queues.indices {
            admitFromQueue(group: group, now: now, actions: &actions)
        }
        for index in workers.indices where !workers[index].busy {
            startStepIfReady(worker: index, now: now, actions: &actions)
        }
        metrics.queueLength.set(queuedCount)
    }

    /// Fails every queued and running request (server shutdown).
    mutating func cancelAll(reason: CancellationReason, now: ContinuousClock.Instant, actions: inout SchedulerActions) {
        for id in Array(sequences.keys).sorted() {
            cancel(id, reason: reason, now: now, actions: &actions)
        }
    }

    // MARK: - Admission and planning

    private mutating func admitFromQueue(group: Int, now: ContinuousClock.Instant, actions: inout SchedulerActions) {
        while queueHeads[group] < queues[group].count {
            let id = queues[group][queueHeads[group]]
            guard let sequence = sequences[id], case .queued = sequence.phase else {
                queueHeads[group] += 1  // Cancelled while waiting.
                continue
            }
            // FIFO: when the oldest request fits nowhere, later ones wait too, so nothing starves.
            guard let index = bestWorker(for: sequence.entry) else { break }
            queueHeads[group] += 1
            queuedCount -= 1
            actions.dequeued += 1

            sequence.phase = .assigned(worker: index)
            workers[index].kvReserved += sequence.entry.kvTokens
            workers[index].pendingAdmit.append(
                SequenceAdmission(
                    id: id, promptTokens: sequence.entry.promptTokens, sampling: sequence.entry.request.sampling,
                    maxNewTokens: sequence.entry.maxNewTokens))
            metrics.queueTime.observe(sequence.entry.request.arrival.duration(to: now))
        }
        compactQueue(group)
    }

    /// Returns the idle worker of the request's group with the most free KV budget that can take it, if any.
    private func bestWorker(for entry: QueuedRequest) -> Int? {
        var best: Int?
        var bestFree = Int.min
        for index in workers.indices where workers[index].group == entry.workerGroup && !workers[index].busy {
            let free = workers[index].capacity.kvBudgetTokens - workers[index].kvReserved
            guard workers[index].activeCount < workers[index].capacity.maxBatchSize, entry.kvTokens <= free else {
                continue
            }
            if free > bestFree {
                best = index
                bestFree = free
            }
        }
        return best
    }

    private mutating func startStepIfReady(worker index: Int, now: ContinuousClock.Instant, actions: inout SchedulerActions) {
        guard workers[index].activeCount > 0 || !workers[index].pendingRelease.isEmpty else { return }

        // Micro-batch window: a worker starting from empty waits briefly so that
        // requests arriving together share their first (prefill) step.
        let startsFromEmpty = workers[index].runningCount == 0 && !workers[index].pendingAdmit.isEmpty
        let batchFull = workers[index].activeCount >= workers[index].capacity.maxBatchSize
        let stepsAreSlow = workers[index].stepEstimate.map { $0 >= configuration.batchWait } ?? true
        if startsFromEmpty && !batchFull && stepsAreSlow && configuration.batchWait > .zero {
            guard let windowDeadline = workers[index].windowDeadline else {
                workers[index].windowDeadline = now + configuration.batchWait
                return
            }
            if now < windowDeadline { return }
        }

        let plan = StepPlan(release: workers[index].pendingRelease, admit: workers[index].pendingAdmit)
        for admission in plan.admit {
            sequences[admission.id]?.phase = .running(worker: index)
            workers[index].runningCount += 1
        }
        if !cancelledAt.isEmpty {
            for id in plan.release {
                if let cancelled = cancelledAt.removeValue(forKey: id) {
                    metrics.cancellationToRelease.observe(cancelled.duration(to: now))
                }
            }
        }
        metrics.stepsWithRelease.increment(by: plan.release.count)
        workers[index].pendingAdmit = []
        workers[index].pendingRelease = []
        workers[index].windowDeadline = nil
        // A plan that only releases sequences and leaves nothing running still
        // goes out so the worker frees their memory at once.
        workers[index].busy = true
        workers[index].batchSizeGauge.set(workers[index].runningCount)
        actions.plans.append((index, plan))
        var running = 0
        for worker in workers.indices { running += workers[worker].runningCount }
        metrics.runningSequences.set(running)
    }

    private mutating func compactQueue(_ group: Int) {
        if queueHeads[group] > 1024 && queueHeads[group] * 2 > queues[group].count {
            queues[group].removeFirst(queueHeads[group])
            queueHeads[group] = 0
        } else if queueHeads[group] == queues[group].count {
            queues[group].removeAll(keepingCapacity: true)
            queueHeads[group] = 0
        }
    }

    // MARK: - Tokens

    private mutating func handle(
        _ token: StepToken, worker index: Int, now: ContinuousClock.Instant, actions: inout SchedulerActions
    ) {
        guard let sequence = sequences[token.sequence], case .running(let owner) = sequence.phase, owner == index
        else {
            // The sequence was cancelled while this step ran: the one step it may still cost.
            metrics.tokensDiscarded.increment()
            return
        }
        sequence.generated += 1
        metrics.tokensGenerated.increment()
        if let last = sequence.lastTokenAt {
            metrics.interTokenLatency.observe(last.duration(to: now))
        } else {
            metrics.timeToFirstToken.observe(sequence.entry.request.arrival.duration(to: now))
        }
        sequence.lastTokenAt = now

        if token.isEndOfSequence && sequence.entry.request.stopAtEndOfSequence {
            finish(sequence, reason: .stop, flushHeldText: true, now: now, actions: &actions)
            return
        }

        let complete = sequence.assembler.append(token.bytes)
        switch sequence.matcher.append(complete) {
        case .stopped(let before):
            emit(token, text: before, sequence: sequence, actions: &actions)
            finish(sequence, reason: .stop, flushHeldText: false, now: now, actions: &actions)
        case .text(let text):
            emit(token, text: text, sequence: sequence, actions: &actions)
            if sequence.generated >= sequence.entry.maxNewTokens {
                finish(sequence, reason: .length, flushHeldText: true, now: now, actions: &actions)
            }
        }
    }

    private func emit(_ token: StepToken, text: [UInt8], sequence: Sequence, actions: inout SchedulerActions) {
        let event = TokenEvent(
            tokenID: token.tokenID, text: String(decoding: text, as: UTF8.self), index: sequence.generated - 1)
        actions.sinkCalls.append(.tokens(sequence.entry, event))
    }

    /// Ends a sequence. `flushHeldText` sends held text (an incomplete
    /// character, a stop-sequence prefix that never completed) with the finish call.
    private mutating func finish(
        _ sequence: Sequence, reason: FinishReason, flushHeldText: Bool, now: ContinuousClock.Instant,
        actions: inout SchedulerActions
    ) {
        var tail: [UInt8] = []
        if flushHeldText {
            let flushed = sequence.assembler.flush()
            switch sequence.matcher.append(flushed) {
            case .stopped(let before):
                tail = before
            case .text(let text):
                tail = text + sequence.matcher.flush()
            }
        }
        let id = sequence.entry.sequenceID
        sequences[id] = nil
        if case .running(let index) = sequence.phase {
            removeRunning(id, kvTokens: sequence.entry.kvTokens, worker: index)
        }
        metrics.requestsFinished(reason).increment()
        actions.sinkCalls.append(
            .finish(
                sequence.entry, reason, text: tail.isEmpty ? "" : String(decoding: tail, as: UTF8.self),
                usage: sequence.usage))
    }

    private mutating func removeRunning(_ id: SequenceID, kvTokens: Int, worker index: Int) {
        workers[index].runningCount -= 1
        workers[index].kvReserved -= kvTokens
        workers[index].pendingRelease.append(id)
    }

    private mutating func failAll(onWorker index: Int, error: GatewayError, actions: inout SchedulerActions) {
        for id in runningSequences(worker: index).sorted() {
            guard let sequence = sequences.removeValue(forKey: id) else { continue }
            removeRunning(id, kvTokens: sequence.entry.kvTokens, worker: index)
            actions.sinkCalls.append(.fail(sequence.entry, error, usage: sequence.usage))
        }
    }

    /// Returns the sequences `worker` runs: admitted in a sent plan and not finished.
    func runningSequences(worker index: Int) -> Set<SequenceID> {
        var ids: Set<SequenceID> = []
        for (id, sequence) in sequences {
            if case .running(let owner) = sequence.phase, owner == index { ids.insert(id) }
        }
        return ids
    }

    private mutating func recordStepTime(_ duration: Duration, worker index: Int) {
        workers[index].stepTime.observe(duration)
        if let previous = workers[index].stepEstimate {
            workers[index].stepEstimate = previous * 0.8 + duration * 0.2
        } else {
            workers[index].stepEstimate = duration
        }
    }

    static func error(for reason: CancellationReason) -> GatewayError {
        switch reason {
        case .clientDisconnected: GatewayError(.cancelled, "The client disconnected before the generation finished.")
        case .clientRequest: GatewayError(.cancelled, "The client cancelled the generation.")
        case .deadline: GatewayError(.deadlineExceeded, "The request did not finish before its deadline.")
        case .slowConsumer:
            GatewayError(.slowConsumer, "The client read the stream too slowly and its buffered output passed the limit.")
        case .shutdown: GatewayError(.unavailable, "The server is shutting down.")
        }
    }
}

/// A min-heap of (deadline, sequence) pairs.
struct DeadlineHeap {
    private var items: [(ContinuousClock.Instant, SequenceID)] = []

    var earliest: ContinuousClock.Instant? { items.first?.0 }

    var count: Int { items.count }

    /// Removes the entries of the sequences `shouldRemove` selects and restores heap order.
    mutating func removeAll(where shouldRemove: (SequenceID) -> Bool) {
        let kept = items.filter { !shouldRemove($0.1) }
        items = []
        for (deadline, id) in kept { insert(deadline, id) }
    }

    mutating func insert(_ deadline: ContinuousClock.Instant, _ id: SequenceID) {
        items.append((deadline, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].0 < items[parent].0 else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popIfDue(_ now: ContinuousClock.Instant) -> (ContinuousClock.Instant, SequenceID)? {
        guard let first = items.first, first.0 <= now else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count && items[left].0 < items[smallest].0 { smallest = left }
                if right < items.count && items[right].0 < items[smallest].0 { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
