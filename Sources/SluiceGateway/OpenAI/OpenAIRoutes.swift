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
        router.post("/v1/completions") { [self] request, responder in
            generate(request, responder, kind: .completion, route: "/v1/completions")
        }
        router.post("/v1/chat/completions") { [self] request, responder in
            generate(request, responder, kind: .chat, route: "/v1/chat/completions")
        }
        router.post("/v1/generate") { [self] request, responder in
            generate(request, responder, kind: .generate, route: "/v1/generate")
        }
        router.get("/v1/models") { [self] request, responder in
            listModels(request, responder)
        }
    }

    private func makeID(_ kind: OpenAIRequest.Kind) -> String {
        let number = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let prefix = switch kind {
        case .completion: "cmpl-"
        case .chat: "chatcmpl-"
        case .generate: "gen-"
        }
        var id = prefix
        id.reserveCapacity(prefix.utf8.count + idPrefix.utf8.count + 16)
        id += idPrefix
        Self.appendHex(number, to: &id)
        return id
    }

    /// Appends `number` in lowercase hexadecimal without leading zeros.
    private static func appendHex(_ number: UInt64, to text: inout String) {
        var shift = max(0, (63 - number.leadingZeroBitCount) / 4 * 4)
        while shift >= 0 {
            let nibble = UInt8(truncatingIfNeeded: number >> UInt64(shift)) & 0xF
            text.unicodeScalars.append(Unicode.Scalar(nibble < 10 ? 0x30 + nibble : 0x57 + nibble))
            shift -= 4
        }
    }

    private func generate(
        _ request: HTTPRequest, _ responder: any HTTPResponder, kind: OpenAIRequest.Kind, route: String
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
            counters.count(route: route, status: status)
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

    func count(route: String, status: Int) {
        let key = Key(route: route, status: status)
        let counter = cache.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = registry.counter(
                "sluice_http_requests_total", help: "HTTP requests by route and status.",
                labels: [("route", route), ("status", String(status))])
            cache[key] = counter
            return counter
        }
        counter.increment()
    }
}
