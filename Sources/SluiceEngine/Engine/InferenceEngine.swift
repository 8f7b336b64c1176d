import CBLAS
import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a `LlamaModel` on the CPU with continuous batching: each `step` admits
/// new sequences, processes their prompts and one pending token of every
/// running sequence in shared matrix multiplications, and samples one token
/// per running sequence.
///
/// An engine is confined to the thread that uses it; it is not `Sendable`.
/// Its kernels run on its own thread pool of `options.threads` threads.
public final class InferenceEngine {
    /// The model the engine runs.
    public let model: LlamaModel
    /// The options the engine was created with.
    public let options: EngineOptions

    let config: LlamaConfig
    let pool: ThreadPool
    let buffers: ForwardBuffers
    let pages: KVPageAllocator
    let sampler: TokenSampler
    /// Ratio of consecutive RoPE pair frequencies, base^(-2 / headDim), computed in Float as ggml does.
    let ropeThetaScale: Float

    /// Running sequences in admission order, which is the order of each step's tokens.
    private(set) var running: [EngineSequence] = []
    private var sequencesByID: [UInt64: EngineSequence] = [:]
    private var reservedTokens = 0

    /// Creates an engine with its thread pool and scratch buffers. KV cache pages are allocated as sequences grow.
    ///
    /// - Throws: `EngineError.invalidOptions` for bad options, `.outOfMemory` when threads cannot start.
    public init(model: LlamaModel, options: EngineOptions = EngineOptions()) throws(EngineError) {
        try options.validate()
        self.model = model
        self.options = options
        self.config = model.config
        self.pool = try ThreadPool(threads: options.threads, spinMicroseconds: options.spinMicroseconds)
        self.buffers = ForwardBuffers(config: model.config, options: options)
        self.pages = KVPageAllocator(config: model.config, pageTokens: options.kvPageTokens)
        self.sampler = TokenSampler(vocab: model.config.vocab)

        let headDim = model.config.headDim
        let theta = model.config.ropeTheta
        ropeThetaScale = powf(Float(theta), -2 / Float(headDim))

        // BLAS runs only float weight matrices, between our own jobs, so it may use the same threads.
        openblas_set_num_threads(Int32(options.threads))
    }

    deinit {
        for sequence in running {
            sequence.releaseCache(allocator: pages)
        }
    }

    /// The number of sequences running.
    public var runningSequenceCount: Int { running.count }

    /// Positions stored in the KV cache, summed over running sequences.
    public var kvTokensInUse: Int { running.reduce(0) { $0 + $1.cachedCount } }

    /// KV cache tokens reserved by running sequences (prompt plus max new tokens each), at most `kvBudgetTokens`.
    public var kvTokensReserved: Int { reservedTokens }

    /// Bytes of KV cache pages allocated now.
    public var kvBytesAllocated: Int { pages.pagesInUse * pages.pageBytes }

    /// Releases sequences, admits new ones and runs one step.
    ///
    /// The step processes every admitted prompt and the last sampled token of
    /// every other running sequence, then samples one token per running
    /// sequence. Releasing an id that is not running does nothing.
    ///
    /// - Returns: One token per running sequence, admitted ones included, in admission order.
    /// - Throws: `EngineError` when an admission is invalid or does not fit
    ///   (nothing changes then), or when a running sequence already produced
    ///   its `maxNewTokens` and was not released.
    public func step(release: [UInt64], admit: [EngineSequenceAdmission]) throws(EngineError) -> [EngineStepToken] {
        let releasing = Set(release)
        try validate(admissions: admit, releasing: releasing)

        if !releasing.isEmpty {
            for sequence in running where releasing.contains(sequence.id) {
                sequence.releaseCache(allocator: pages)
                reservedTokens -= sequence.reservedTokens
                sequencesByID[sequence.id] = nil
            }
            running.removeAll { releasing.contains($0.id) }
        }
        for admission in admit {
            let sequence = EngineSequence(admission: admission, pageTokens: pages.pageTokens)
            running.append(sequence)
            sequencesByID[sequence.id] = sequence
            reservedTokens += sequence.reservedTokens
        }
        guard !running.isEmpty else { return [] }

        try runForward()

        var tokens: [EngineStepToken] = []
        tokens.reserveCapacity(running.count)
        for sequence in running {
            let logits = buffers.logits + sequence.logitsSlot * config.vocab
            let token = sampler.sample(logits: logits, sequence: sequence)
            sequence.tokens.append(token)
            tokens.append(EngineStepToken(sequence: sequence.id, tokenID: token))
        }
        return tokens
    }

    /// Returns the logits of the last step for a running sequence: the
    /// distribution of the token that step sampled, before any sampling
    /// adjustment. Nil when the sequence is not running.
    public func lastLogits(of id: UInt64) -> [Float]? {
        guard let sequence = sequencesByID[id], sequence.logitsSlot >= 0 else { return nil }
        let start = buffers.logits + sequence.logitsSlot * config.vocab
        return Array(UnsafeBufferPointer(start: start, count: config.vocab))
    }

    /// Returns the tokens of a running sequence: its prompt and every token sampled so far.
    public func tokens(of id: UInt64) -> [Int32]? {
        sequencesByID[id]?.tokens
    }

    private func validate(admissions: [EngineSequenceAdmission], releasing: Set<UInt64>) throws(EngineError) {
        for sequence in running where !releasing.contains(sequence.id) {
            guard sequence.generatedCount < sequence.maxNewTokens else {
                throw .sequenceFinished(sequence: sequence.id, maxNewTokens: sequence.maxNewTokens)
            }
        }

        var remainingRunning = running.count
        var remainingReserved = reservedTokens
        for sequence in running where releasing.contains(sequence.id) {
            remainingRunning -= 1
            remainingReserved -= sequence.reservedTokens
        }

        var admittedIDs = Set<UInt64>()
        for admission in admissions {
            let id = admission.id
            guard sequencesByID[id] == nil || releasing.contains(id), admittedIDs.insert(id).inserted else {
                throw .invalidAdmission(sequence: id, reason: "a sequence with this id is already running")
            }
            guard !admission.promptTokens.isEmpty else {
                throw .invalidAdmission(sequence: id, reason: "the prompt has no tokens")
            }
            guard admission.maxNewTokens >= 1 else {
                throw .invalidAdmission(sequence: id, reason: "maxNewTokens is \(admission.maxNewTokens), expected at least 1")
            }
            if let token = admission.promptTokens.first(where: { $0 < 0 || Int($0) >= config.vocab }) {
                throw .invalidAdmission(sequence: id, reason: "token id \(token) is outside the vocabulary of \(config.vocab)")
            }
            let (needed, overflow) = admission.promptTokens.count.addingReportingOverflow(admission.maxNewTokens)
            guard !overflow, needed <= config.contextLength else {
                throw .contextLengthExceeded(
                    sequence: id, tokens: overflow ? Int.max : needed, contextLength: config.contextLength)
            }
            guard remainingRunning < options.maxBatchSize else {
                throw .batchFull(sequence: id, maxBatchSize: options.maxBatchSize)
            }
            guard needed <= options.kvBudgetTokens - remainingReserved else {
                throw .kvBudgetExceeded(sequence: id, requested: needed, available: options.kvBudgetTokens - remainingReserved)
            }
            remainingRunning += 1
            remainingReserved += needed
        }
    }
}
