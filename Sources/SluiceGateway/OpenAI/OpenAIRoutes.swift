#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SluiceCore
import SluiceHTTP
import SluiceNet
import SluiceScheduler

/// The OpenAI-compatible and native generation routes, plus `/v1/models`.
final class OpenAIRoutes: Sendable {
    private let scheduler: Scheduler
    private let logger: Logger
    /// Level of the one line logged per finished request: info with `--access-log`, else debug.
    private let accessLogLevel: LogLevel
    private let requestsTotal: RequestCounters
    private let idPrefix: String
    private let nextID = Atomic<UInt64>(0)

    init(scheduler: Scheduler, logger: Logger, accessLog: Bool, registry: MetricsRegistry) {
        self.scheduler = scheduler
        self.accessLogLevel = accessLog ? .info : .debug
        self.logger = logger
        self.requestsTotal = RequestCounters(registry: registry)
        // A random prefix keeps ids unique across restarts; a counter keeps them cheap.
        idPrefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    func register(on router: inout HTTPRouter) {
        for (route, kind) in [
            ("/v1/completions", OpenAIRequest.Kind.completion), ("/v1/chat/completions", .chat),
            ("/v1/generate", .generate),
        ] {
            let succeeded = requestsTotal.counter(route: route, status: 200)
            router.post(route) { [self] request, responder in
                generate(request, responder, kind: kind, route: route, succeeded: succeeded)
            }
        }
        router.get("/v1/models") { [self] request, responder in
            listModels(request, responder)
        }
    }

    private func makeID(_ kind: OpenAIRequest.Kind) -> String {
        let number = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let prefix: StaticString = switch kind {
        case .completion: "cmpl-"
        case .chat: "chatcmpl-"
        case .generate: "gen-"
        }
        let digitCount = max(1, (64 - number.leadingZeroBitCount + 3) / 4)
        let length = prefix.utf8CodeUnitCount + idPrefix.utf8.count + digitCount
        // Writes the bytes in place: this runs once per request.
        return String(unsafeUninitializedCapacity: length) { buffer in
            var position = 0
            for byte in UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount) {
                buffer[position] = byte
                position += 1
            }
            for byte in idPrefix.utf8 {
                buffer[position] = byte
                position += 1
            }
            for index in stride(from: digitCount - 1, through: 0, by: -1) {
                let nibble = UInt8(truncatingIfNeeded: number >> UInt64(index * 4)) & 0xF
                buffer[position] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
                position += 1
            }
            return position
        }
    }

    /// - Parameter succeeded: the route's counter of 200 responses.
    private func generate(
        _ request: HTTPRequest, _ responder: any HTTPResponder, kind: OpenAIRequest.Kind, route: String,
        succeeded: Counter
    ) {
        let arrival = ContinuousClock.now
        let counters = requestsTotal
        let parsed: OpenAIRequest
        do {
            parsed = try OpenAIRequestParser.parse(request.body, kind: kind)
        } catch {
            reject(error, request: request, responder: responder, route: route)
            return
        }

        let id = makeID(kind)
        let encoder = OpenAIResponseEncoder(
            kind: kind, id: id, created: Self.unixTime(), model: parsed.model, includeUsage: parsed.includeUsage,
            streamsServerSentEvents: parsed.stream && kind != .generate)
        let mode: HTTPGenerationSink.Mode
        if !parsed.stream {
            mode = .json
        } else if kind == .generate {
            mode = .ndjson
        } else {
            mode = .serverSentEvents
        }
        let logger = self.logger
        let accessLogLevel = self.accessLogLevel
        let requestID = request.id
        let model = parsed.model
        let sink = HTTPGenerationSink(
            responder: responder, encoder: encoder, mode: mode, requestID: requestID
        ) { status, usage in
            if status == 200 {
                succeeded.increment()
            } else {
                counters.count(route: route, status: status)
            }
            logger.log(accessLogLevel, "request finished", [
                ("request_id", requestID), ("route", route), ("model", model), ("status", status),
                ("prompt_tokens", usage.promptTokens), ("completion_tokens", usage.completionTokens),
                ("duration_ms", Self.milliseconds(arrival.duration(to: .now))),
            ])
        }

        let generation = GenerationRequest(
            id: id, model: parsed.model, prompt: parsed.prompt, sampling: parsed.sampling, maxTokens: parsed.maxTokens,
            stopSequences: parsed.stopSequences, stopAtEndOfSequence: !parsed.ignoreEndOfSequence,
            deadline: parsed.timeoutSeconds.map { arrival + .nanoseconds(Int64($0 * 1e9)) }, sink: sink,
            cancellation: responder.cancellation, arrival: arrival)
        do {
            try scheduler.submit(generation)
        } catch {
            reject(error, request: request, responder: responder, route: route)
        }
    }

    private func reject(_ error: GatewayError, request: HTTPRequest, responder: any HTTPResponder, route: String) {
        let (head, body) = GatewayErrorResponse.make(error, requestID: request.id)
        responder.send(head, body: body)
        requestsTotal.count(route: route, status: head.status)
        logger.log(accessLogLevel, "request rejected", [
            ("request_id", request.id), ("route", route), ("status", head.status), ("code", error.code.name),
            ("error", error.message),
        ])
    }

    private func listModels(_ request: HTTPRequest, _ responder: any HTTPResponder) {
        var writer = JSONWriter(capacity: 256)
        writer.raw("{\"object\":\"list\",\"data\":[")
        let created = Self.unixTime()
        for (index, model) in scheduler.servedModels.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.raw("{\"id\":")
            writer.string(model.name)
            writer.raw(",\"object\":\"model\",\"created\":")
            writer.integer(created)
            writer.raw(",\"owned_by\":\"sluice\",\"max_model_len\":")
            writer.integer(model.maxSequenceTokens)
            writer.raw("}")
        }
        writer.raw("]}")
        responder.send(
            HTTPGenerationSink.head(status: 200, contentType: "application/json", requestID: request.id),
            body: writer.bytes)
        requestsTotal.count(route: "/v1/models", status: 200)
    }

    static func unixTime() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return ((Double(seconds) * 1e3 + Double(attoseconds) * 1e-15) * 1000).rounded() / 1000
    }
}

/// `sluice_http_requests_total` by route template and status, with handles
/// created on first use and then reused.
final class RequestCounters: Sendable {
    private let registry: MetricsRegistry
    private struct Key: Hashable {
        let route: String
        let status: Int
    }

    private let cache = Mutex<[Key: Counter]>([:])

    init(registry: MetricsRegistry) { self.registry = registry }

    /// Returns the counter of `route` with `status`, for callers that count
    /// one pair often and want to skip the lookup.
    func counter(route: String, status: Int) -> Counter {
        let key = Key(route: route, status: status)
        return cache.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = registry.counter(
                "sluice_http_requests_total", help: "HTTP requests by route and status.",
                labels: [("route", route), ("status", String(status))])
            cache[key] = counter
            return counter
        }
    }

    func count(route: String, status: Int) {
        counter(route: route, status: status).increment()
    }
}
