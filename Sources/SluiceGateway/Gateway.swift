#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SluiceCore
import SluiceEngine
import SluiceHTTP
import SluiceNet
import SluiceScheduler
import SluiceWorkers

/// The running gateway: workers, the scheduler and the HTTP server, built
/// from `ServeOptions`.
public final class Gateway: Sendable {
    public let options: ServeOptions
    public let scheduler: Scheduler
    private let server: HTTPServer
    private let ready = ReadinessFlag()
    private let logger = Logger(label: "sluice.gateway")

    /// Loads the model (or starts the simulated accelerator), starts the
    /// scheduler and binds the HTTP server.
    /// - Throws: model load errors, `UsageError` for bad combinations, socket errors when binding fails.
    public init(options: ServeOptions) throws {
        self.options = options
        let registry = MetricsRegistry.shared
        let workers = try Self.makeWorkers(options: options, logger: logger)
        scheduler = Scheduler(
            workers: workers, configuration: options.scheduler, registry: registry,
            logger: Logger(label: "sluice.scheduler"))

        var router = HTTPRouter()
        OpenAIRoutes(
            scheduler: scheduler, logger: Logger(label: "sluice.api"), accessLog: options.accessLog, registry: registry
        ).register(on: &router)
        let ready = self.ready
        router.get("/healthz") { _, responder in
            responder.send(status: 200, headers: Self.jsonHeaders, body: Array("{\"status\":\"ok\"}".utf8))
        }
        router.get("/readyz") { _, responder in
            if ready.isReady {
                responder.send(status: 200, headers: Self.jsonHeaders, body: Array("{\"status\":\"ready\"}".utf8))
            } else {
                responder.sendError(
                    status: 503, code: "unavailable", message: "The server is not ready: it is starting or shutting down.",
                    type: "server_error")
            }
        }
        router.get("/metrics") { _, responder in
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "text/plain; version=0.0.4; charset=utf-8")
            responder.send(status: 200, headers: headers, body: Array(registry.render().utf8))
        }

        var http = HTTPServer.Configuration()
        http.host = options.host
        http.port = options.port
        http.threads = options.threads
        http.maxRequestLineBytes = options.http.maxRequestLineBytes
        http.maxHeaderBytes = options.http.maxHeaderBytes
        http.maxHeaderCount = options.http.maxHeaderCount
        http.maxBodyBytes = options.http.maxBodyBytes
        http.idleTimeout = options.http.idleTimeout
        http.headerReadTimeout = options.http.headerReadTimeout
        http.writeTimeout = options.http.writeTimeout
        http.maxOutboundBufferBytes = options.maxStreamBufferBytes
        http.shutdownGrace = options.shutdownGrace

        scheduler.start()
        server = try HTTPServer(configuration: http, router: router)
        ready.isReady = true
        logger.info("sluice is serving", [
            ("address", server.localAddress.description),
            ("models", scheduler.servedModels.map(\.name).joined(separator: ",")),
        ])
    }

    static var jsonHeaders: HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        return headers
    }

    /// The address the server listens on (with the real port when 0 was given).
    public var localAddress: SocketAddress { server.localAddress }

    /// Serves until SIGINT or SIGTERM, then stops accepting, lets in-flight
    /// responses finish within the grace period, and stops the workers.
    public func runUntilShutdownSignal() async throws {
        try await server.runUntilShutdownSignal()
        ready.isReady = false
        scheduler.shutdown(grace: .zero)
        logger.info("sluice stopped")
    }

    private static func makeWorkers(options: ServeOptions, logger: Logger) throws -> [any Worker] {
        switch options.backend {
        case .simulated:
            var simulated = SimulatedAccelerator.Options()
            simulated.stepBase = options.stepBase
            simulated.stepPerSequence = options.stepPerSequence
            simulated.kvBudgetTokens = max(options.kvBudgetTokens, simulated.kvBudgetTokens)
            if let name = options.modelName { simulated.model = name }
            if let batch = options.scheduler.maxBatchSize { simulated.maxBatchSize = batch }
            return (0..<options.workerCount).map { SimulatedAccelerator(name: "simulated-\($0)", options: simulated) }
        case .engine:
            return try ModelLoader.loadEngineWorkers(options: options, logger: logger)
        }
    }
}

/// Whether `/readyz` reports ready: set once serving starts, cleared at shutdown.
final class ReadinessFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isReady: Bool {
        get { value.load(ordering: .relaxed) }
        set { value.store(newValue, ordering: .relaxed) }
    }
}
