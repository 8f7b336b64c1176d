#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceEngine
import SluiceScheduler
import SluiceWorkers

/// Loads a GGUF model for the engine backend, showing progress on the terminal.
enum ModelLoader {
    static func loadEngineWorkers(options: ServeOptions, logger: Logger) throws -> [any Worker] {
        let path = options.modelPath
        guard access(path, R_OK) == 0 else {
            throw UsageError(
                message: "The model file \(path) does not exist or is not readable. Run `make serve` (or "
                    + "scripts/bootstrap.sh) to download the default model, or pass --model PATH.")
        }
        let progress = LoadProgress(steps: 2 + options.workerCount)
        let started = ContinuousClock.now

        progress.advance("reading GGUF metadata and tensor index")
        let file = try GGUFFile(path: path)
        progress.advance("checking and mapping weights")
        let model = try LlamaModel(file: file)
        let config = model.config
        let name = options.modelName ?? defaultModelName(path: path)

        var engineOptions = EngineOptions(threads: options.engineThreads)
        engineOptions.kvBudgetTokens = options.kvBudgetTokens
        if let batch = options.scheduler.maxBatchSize {
            engineOptions.maxBatchSize = batch
            engineOptions.maxPassTokens = max(engineOptions.maxPassTokens, batch)
        }

        var workers: [any Worker] = []
        for index in 0..<options.workerCount {
            progress.advance("starting engine worker \(index + 1) of \(options.workerCount)")
            workers.append(
                try EngineWorker(name: "engine-\(index)", model: model, modelName: name, options: engineOptions))
        }
        progress.advance("ready")
        logger.info("model loaded", [
            ("path", path), ("model", name), ("architecture", config.architecture), ("layers", config.layers),
            ("heads", config.heads), ("kv_heads", config.kvHeads), ("hidden", config.hidden),
            ("context_length", config.contextLength), ("vocabulary", config.vocab),
            ("engine_threads", engineOptions.threads), ("max_batch_size", engineOptions.maxBatchSize),
            ("kv_budget_tokens", engineOptions.kvBudgetTokens),
            ("load_ms", Int(started.duration(to: .now) / .milliseconds(1))),
        ])
        return workers
    }

    /// Returns the name clients send: the file name without `.gguf` and its quantization
    /// suffix (`SmolLM2-135M-Instruct.Q4_1.gguf` is `SmolLM2-135M-Instruct`).
    /// File names carry the published model name more reliably than the
    /// GGUF's `general.name`, which converters often fill with a training-run label.
    static func defaultModelName(path: String) -> String {
        var stem = String(path.split(separator: "/").last ?? Substring(path))
        if stem.hasSuffix(".gguf") { stem.removeLast(5) }
        if let dot = stem.lastIndex(of: ".") { stem = String(stem[..<dot]) }
        return stem
    }
}

/// A one-line progress bar on standard error while the model loads.
private final class LoadProgress {
    private let steps: Int
    private var done = 0
    private let isTerminal = isatty(2) != 0

    init(steps: Int) { self.steps = steps }

    func advance(_ stage: String) {
        let width = 24
        let filled = width * done / max(steps, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "loading model [\(bar)] \(done)/\(steps) \(stage)"
        var text = line + "\n"
        if isTerminal {
            // Redraw one line in place; end it only when loading is done.
            text = "\r\u{1B}[K" + line + (done == steps ? "\n" : "")
        }
        var bytes = Array(text.utf8)
        _ = write(2, &bytes, bytes.count)
        done += 1
    }
}
