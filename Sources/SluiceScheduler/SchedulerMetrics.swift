import SluiceCore

/// The scheduler's metric handles, created once.
final class SchedulerMetrics: Sendable {
    let queueLength: Gauge
    let runningSequences: Gauge
    let queueTime: Histogram
    let timeToFirstToken: Histogram
    let interTokenLatency: Histogram
    let tokensGenerated: Counter
    let tokensDiscarded: Counter
    /// Indexed by `FinishReason.metricIndex` and `CancellationReason.metricIndex`:
    /// the hot path picks a counter without hashing.
    private let finishedByReason: [Counter]
    private let cancelledByReason: [Counter]
    let rejectionsQueueFull: Counter
    let rejectionsInvalid: Counter
    let cancellationToRelease: Histogram
    let stepsWithRelease: Counter
    let registry: MetricsRegistry

    init(registry: MetricsRegistry) {
        self.registry = registry
        queueLength = registry.gauge("sluice_queue_length", help: "Requests waiting for admission.")
        runningSequences = registry.gauge("sluice_running_sequences", help: "Sequences in running batches, all workers.")
        queueTime = registry.histogram(
            "sluice_queue_time_seconds", help: "Time from arrival to admission into a batch.",
            buckets: latencyBucketsSeconds)
        timeToFirstToken = registry.histogram(
            "sluice_time_to_first_token_seconds", help: "Time from arrival to the first generated token.",
            buckets: latencyBucketsSeconds)
        interTokenLatency = registry.histogram(
            "sluice_inter_token_latency_seconds", help: "Time between consecutive tokens of one request.",
            buckets: latencyBucketsSeconds)
        tokensGenerated = registry.counter("sluice_generated_tokens_total", help: "Tokens generated for live requests.")
        tokensDiscarded = registry.counter(
            "sluice_discarded_tokens_total",
            help: "Tokens computed for sequences that were cancelled while their step ran.")
        finishedByReason = FinishReason.allCases.map { reason in
            registry.counter(
                "sluice_generations_total", help: "Generations that ended, by finish reason.",
                labels: [("reason", reason.rawValue)])
        }
        cancelledByReason = CancellationReason.allCases.map { reason in
            registry.counter(
                "sluice_cancellations_total", help: "Requests cancelled, by reason.",
                labels: [("reason", reason.rawValue)])
        }
        rejectionsQueueFull = registry.counter(
            "sluice_rejections_total", help: "Requests rejected before queueing, by reason.",
            labels: [("reason", "queue_full")])
        rejectionsInvalid = registry.counter(
            "sluice_rejections_total", help: "Requests rejected before queueing, by reason.",
            labels: [("reason", "invalid_request")])
        cancellationToRelease = registry.histogram(
            "sluice_cancellation_release_seconds",
            help: "Time from a running sequence's cancellation until a step plan releases it from its worker.",
            buckets: latencyBucketsSeconds)
        stepsWithRelease = registry.counter(
            "sluice_released_sequences_total", help: "Sequences released from workers.")
    }

    func requestsFinished(_ reason: FinishReason) -> Counter { finishedByReason[reason.metricIndex] }

    func cancellations(_ reason: CancellationReason) -> Counter { cancelledByReason[reason.metricIndex] }

    func stepTime(worker: String) -> Histogram {
        registry.histogram(
            "sluice_worker_step_seconds", help: "Time a worker took to compute one step.", labels: [("worker", worker)],
            buckets: latencyBucketsSeconds)
    }

    func batchSize(worker: String) -> Gauge {
        registry.gauge(
            "sluice_batch_size", help: "Sequences in the worker's running batch.", labels: [("worker", worker)])
    }
}

extension FinishReason {
    /// The reason's position in `allCases`.
    fileprivate var metricIndex: Int {
        switch self {
        case .stop: 0
        case .length: 1
        case .cancelled: 2
        }
    }
}

extension CancellationReason {
    /// The reason's position in `allCases`.
    fileprivate var metricIndex: Int {
        switch self {
        case .clientDisconnected: 0
        case .clientRequest: 1
        case .deadline: 2
        case .slowConsumer: 3
        case .shutdown: 4
        }
    }
}
