import SluiceCore
import SluiceEngine
import SluiceScheduler

/// The built-in CPU engine behind the scheduler's worker protocol: one
/// `InferenceEngine` driven by its own step thread.
public final class EngineWorker: Worker {
    public let name: String
    public let model: String
    public let capacity: WorkerCapacity
    public let tokenizer: any ModelTokenizer
    /// The model's hyperparameters, for logs.
    public let config: LlamaConfig

    private let thread = StepThread()
    private let engineTokenizer: BPETokenizer
    /// Touched only on `thread` (after `init`).
    private nonisolated(unsafe) let engine: InferenceEngine

    /// Loads the model and prepares the engine.
    /// - Parameters:
    ///   - model: the loaded model, shared by every worker serving it.
    ///   - modelName: the name clients send.
    /// - Throws: `EngineError` or `TokenizerError` when the model cannot be served.
    public init(name: String, model: LlamaModel, modelName: String, options: EngineOptions) throws {
        self.name = name
        self.model = modelName
        self.config = model.config
        let bpe = try BPETokenizer(gguf: model.file)
        engineTokenizer = bpe
        let template = try ChatTemplate(gguf: model.file)
        tokenizer = EngineTokenizer(bpe: bpe, template: template)
        engine = try InferenceEngine(model: model, options: options)
        capacity = WorkerCapacity(
            maxBatchSize: options.maxBatchSize, kvBudgetTokens: options.kvBudgetTokens,
            maxSequenceTokens: model.config.contextLength)
    }

    public func submit(_ plan: StepPlan, completion: @escaping @Sendable (Result<StepResult, GatewayError>) -> Void) {
        thread.run { [self] in
            completion(runStep(plan))
        }
    }

    public func shutdown() { thread.stop() }

    private func runStep(_ plan: StepPlan) -> Result<StepResult, GatewayError> {
        let started = ContinuousClock.now
        let admissions = plan.admit.map {
            EngineSequenceAdmission(
                id: $0.id, promptTokens: $0.promptTokens, sampling: $0.sampling, maxNewTokens: $0.maxNewTokens)
        }
        do {
            let produced = try engine.step(release: plan.release, admit: admissions)
            let endOfSequence = engineTokenizer.endOfSequenceTokenIDs
            let tokens = produced.map { token in
                StepToken(
                    sequence: token.sequence, tokenID: token.tokenID, bytes: engineTokenizer.decodeBytes(token.tokenID),
                    isEndOfSequence: endOfSequence.contains(token.tokenID))
            }
            return .success(StepResult(tokens: tokens, duration: started.duration(to: .now)))
        } catch {
            return .failure(GatewayError(.workerFailed, "The engine failed to run a step: \(error)", cause: error))
        }
    }
}

/// The engine's BPE tokenizer and chat template as the scheduler uses them.
struct EngineTokenizer: ModelTokenizer {
    let bpe: BPETokenizer
    let template: ChatTemplate?

    func encode(_ text: String) -> [Int32] {
        let ids = bpe.encode(text)
        if bpe.addsBOSToken, let bos = bpe.bosTokenID, ids.first != bos {
            return [bos] + ids
        }
        return ids
    }

    func renderChat(_ messages: [ChatMessage]) throws -> String {
        guard let template else {
            throw GatewayError(
                .invalidRequest, "This model has no chat template; use /v1/completions with a prompt.",
                parameter: "messages")
        }
        do {
            return try template.render(
                messages: messages, addGenerationPrompt: true,
                bosToken: bpe.bosTokenID.flatMap { bpe.tokenText($0) } ?? "",
                eosToken: bpe.eosTokenID.flatMap { bpe.tokenText($0) } ?? "")
        } catch {
            throw GatewayError(.invalidRequest, "The model's chat template rejected the messages: \(error)",
                parameter: "messages")
        }
    }

    var endOfSequenceTokenIDs: Set<Int32> { bpe.endOfSequenceTokenIDs }
}
