#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceScheduler
import SluiceWorkers

/// The settings of `sluice serve`, with the defaults listed in the help text.
public struct ServeOptions: Sendable {
    public enum Backend: String, Sendable {
        case engine
        case simulated
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var threads = ServeOptions.cores
    public var logLevel = LogLevel.info
    public var logFormat = LogFormat.keyValue
    public var accessLog = false
    public var backend = Backend.engine
    public var modelPath = "SLUICE_MODEL or .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    public var modelName: String?
    public var engineThreads = ServeOptions.cores
    public var kvBudgetTokens = 32_768
    public var stepBase: Duration = .milliseconds(5)
    public var stepPerSequence: Duration = .microseconds(100)
    public var workerCount = 1
    public var scheduler = SchedulerConfiguration()
    public var maxStreamBufferBytes = 1 << 20
    public var http = HTTPLimits()
    public var shutdownGrace: Duration = .seconds(10)

    /// Limits of the HTTP layer, mirrored from its configuration so the help text lists them.
    public struct HTTPLimits: Sendable {
        public var maxRequestLineBytes = 8192
        public var maxHeaderBytes = 32768
        public var maxHeaderCount = 100
        public var maxBodyBytes = 4 << 20
        public var idleTimeout: Duration = .seconds(60)
        public var headerReadTimeout: Duration = .seconds(10)
        public var writeTimeout: Duration = .seconds(30)
    }

    public init() {}

    static var cores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    static func defaultModelPath() -> String {
        if let path = getenv("SLUICE_MODEL") { return String(cString: path) }
        return ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    public static let help = """
        Usage: sluice serve [flags]

        Serves the OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions,
        /v1/models), the native NDJSON route /v1/generate, /healthz, /readyz and /metrics.

        Network:
          --host ADDRESS              address to listen on, IPv4 or IPv6 (default 127.0.0.1)
          --port PORT                 TCP port (default 8080; 0 picks a free port)
          --threads N                 event loop threads (default: the number of cores)
          --log-level LEVEL           trace, debug, info, notice, warning or error (default info)
          --log-format FORMAT         kv (key=value) or json (default kv)
          --access-log                log one info line per finished request (default off; debug level logs them too)

        Model and workers:
          --backend engine|simulated  in-process worker kind (default engine)
          --model PATH                GGUF file of a llama-family model
                                      (default $SLUICE_MODEL, else .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf)
          --model-name NAME           the name clients send as "model" (default: the GGUF's general.name,
                                      or "simulated" for the simulated backend)
          --engine-threads N          compute threads of the engine (default: the number of cores)
          --kv-budget TOKENS          KV cache tokens per worker, all sequences together (default 32768)
          --workers N                 in-process workers serving the model (default 1)
          --step-base DURATION        simulated step: fixed time per step (default 5ms)
          --step-per-seq DURATION     simulated step: added time per running sequence (default 0.1ms)

        Scheduling:
          --max-batch-size N          maximum sequences in one step (default: the worker's own limit;
                                      64 for the simulated backend, 32 for the engine)
          --max-queue N               requests waiting for a batch slot before new ones get 429 (default 1024)
          --batch-wait DURATION       micro-batch window of an idle worker (default 1ms; 0 disables)
          --default-max-tokens N      new tokens for requests that set no max_tokens (default 256)
          --max-tokens-cap N          largest max_tokens a request may set (default 4096)
          --request-timeout DURATION  deadline of a request from arrival to its last token (default 600s)
          --max-stream-buffer-bytes N unread output per stream before it is cancelled as too slow (default 1MiB)

        HTTP limits:
          --max-request-line-bytes N  longer request lines get 414 (default 8192)
          --max-header-bytes N        larger header blocks get 431 (default 32768)
          --max-header-count N        more header fields get 431 (default 100)
          --max-body-bytes N          larger bodies get 413 (default 4MiB)
          --idle-timeout DURATION     close keep-alive connections idle this long (default 60s)
          --header-timeout DURATION   a request's headers must arrive within this, else 408 (default 10s)
          --write-timeout DURATION    close a connection whose output makes no progress this long (default 30s)
          --shutdown-grace DURATION   on SIGINT/SIGTERM, time given to in-flight responses (default 10s)

        Sizes accept suffixes KiB, MiB, GiB; durations accept us, ms, s, m.
        """

    /// Flags of `sluice serve` that take a value.
    static let valueFlags: Set<String> = [
        "host", "port", "threads", "log-level", "log-format", "backend", "model", "model-name", "engine-threads",
        "kv-budget", "workers", "step-base", "step-per-seq", "max-batch-size", "max-queue", "batch-wait",
        "default-max-tokens", "max-tokens-cap", "request-timeout", "max-stream-buffer-bytes", "max-request-line-bytes",
        "max-header-bytes", "max-header-count", "max-body-bytes", "idle-timeout", "header-timeout", "write-timeout",
        "shutdown-grace",
    ]

    /// Parses the arguments after `serve`.
    public static func parse(_ arguments: [String]) throws(UsageError) -> ServeOptions {
        var flags = try FlagReader(arguments, knownFlags: valueFlags, booleanFlags: ["access-log", "help"])
        var options = ServeOptions()
        options.modelPath = defaultModelPath()
        if let host = flags.string("host") { options.host = host }
        if let port = try flags.integer("port", min: 0) {
            guard port <= 65535 else { throw UsageError(message: "--port must be at most 65535, got \(port).") }
            options.port = port
        }
        if let threads = try flags.integer("threads", min: 1) { options.threads = threads }
        if let level = flags.string("log-level") {
            guard let parsed = LogLevel(name: level) else {
                throw UsageError(message: "--log-level must be trace, debug, info, notice, warning or error, got '\(level)'.")
            }
            options.logLevel = parsed
        }
        if let format = flags.string("log-format") {
            guard let parsed = LogFormat(rawValue: format) else {
                throw UsageError(message: "--log-format must be kv or json, got '\(format)'.")
            }
            options.logFormat = parsed
        }
        options.accessLog = flags.flag("access-log")
        _ = flags.flag("help")
        if let backend = flags.string("backend") {
            guard let parsed = Backend(rawValue: backend) else {
                throw UsageError(message: "--backend must be engine or simulated, got '\(backend)'.")
            }
            options.backend = parsed
        }
        if let path = flags.string("model") { options.modelPath = path }
        options.modelName = flags.string("model-name")
        if let threads = try flags.integer("engine-threads", min: 1) { options.engineThreads = threads }
        if let budget = try flags.integer("kv-budget", min: 1) { options.kvBudgetTokens = budget }
        if let count = try flags.integer("workers", min: 1) { options.workerCount = count }
        if let base = try flags.duration("step-base") { options.stepBase = base }
        if let perSequence = try flags.duration("step-per-seq") { options.stepPerSequence = perSequence }

        if let batch = try flags.integer("max-batch-size", min: 1) { options.scheduler.maxBatchSize = batch }
        if let queue = try flags.integer("max-queue", min: 0) { options.scheduler.maxQueue = queue }
        if let wait = try flags.duration("batch-wait") { options.scheduler.batchWait = wait }
        if let tokens = try flags.integer("default-max-tokens", min: 1) { options.scheduler.defaultMaxTokens = tokens }
        if let cap = try flags.integer("max-tokens-cap", min: 1) { options.scheduler.maxTokensCap = cap }
        if let timeout = try flags.duration("request-timeout") {
            options.scheduler.defaultDeadline = timeout == .zero ? nil : timeout
        }
        if let bytes = try flags.bytes("max-stream-buffer-bytes") { options.maxStreamBufferBytes = bytes }

        if let bytes = try flags.bytes("max-request-line-bytes") { options.http.maxRequestLineBytes = bytes }
        if let bytes = try flags.bytes("max-header-bytes") { options.http.maxHeaderBytes = bytes }
        if let count = try flags.integer("max-header-count", min: 1) { options.http.maxHeaderCount = count }
        if let bytes = try flags.bytes("max-body-bytes") { options.http.maxBodyBytes = bytes }
        if let timeout = try flags.duration("idle-timeout") { options.http.idleTimeout = timeout }
        if let timeout = try flags.duration("header-timeout") { options.http.headerReadTimeout = timeout }
        if let timeout = try flags.duration("write-timeout") { options.http.writeTimeout = timeout }
        if let grace = try flags.duration("shutdown-grace") { options.shutdownGrace = grace }

        let unknown = flags.allNames.subtracting(flags.consumed)
        if let first = unknown.sorted().first {
            throw UsageError(message: "Unknown flag --\(first). See sluice serve --help.")
        }
        return options
    }
}
