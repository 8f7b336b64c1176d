#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceScheduler

/// A stand-in for a GPU: each step sleeps `stepBase + stepPerSequence × batch
/// size` and produces deterministic tokens. It isolates the gateway from model
/// speed in tests and benchmarks.
public final class SimulatedAccelerator: Worker {
    public struct Options: Sendable {
        /// Fixed cost of every step. Default 5 ms.
        public var stepBase: Duration = .milliseconds(5)
        /// Added cost per running sequence. Default 0.1 ms.
        public var stepPerSequence: Duration = .microseconds(100)
        /// Default 64 sequences per step.
        public var maxBatchSize = 64
        /// Default 1,048,576 tokens.
        public var kvBudgetTokens = 1 << 20
        /// Default 32,768 tokens.
        public var maxSequenceTokens = 1 << 15
        /// The model name clients use. Default `simulated`.
        public var model = "simulated"

        public init() {}
    }

    public let name: String
    public let options: Options
    public var model: String { options.model }
    public let capacity: WorkerCapacity
    public let tokenizer: any ModelTokenizer = WhitespaceTokenizer()

    private let thread = StepThread()
    /// Whether steps cost no time, so `submit` runs them on the caller's
    /// thread: a step that does not sleep cannot hold up the scheduler, and
    /// skipping the hand-off to `thread` and back keeps a zero-cost benchmark
    /// measuring the gateway rather than thread wake-ups.
    private let runsInline: Bool
    /// Running sequences in admission order, with their generated-token
    /// counts; touched only on `thread` (or, when `runsInline`, by the
    /// scheduler's `submit` calls, which never overlap).
    private nonisolated(unsafe) var running: [(id: SequenceID, generated: Int)] = []

    public init(name: String = "simulated-0", options: Options = Options()) {
        self.name = name
        self.options = options
        capacity = WorkerCapacity(
            maxBatchSize: options.maxBatchSize, kvBudgetTokens: options.kvBudgetTokens,
            maxSequenceTokens: options.maxSequenceTokens)
        runsInline = options.stepBase == .zero && options.stepPerSequence == .zero
    }

    public func submit(_ plan: StepPlan, completion: @escaping @Sendable (Result<StepResult, GatewayError>) -> Void) {
        if runsInline {
            completion(.success(runStep(plan)))
            return
        }
        thread.run { [self] in
            completion(.success(runStep(plan)))
        }
    }

    public func shutdown() { thread.stop() }

    private func runStep(_ plan: StepPlan) -> StepResult {
        let started = ContinuousClock.now
        if !plan.release.isEmpty {
            // Releases are few per step, so a linear search beats building a set.
            running.removeAll { plan.release.contains($0.id) }
        }
        for admission in plan.admit {
            running.append((admission.id, 0))
        }
        guard !running.isEmpty else {
            return StepResult(tokens: [], duration: started.duration(to: .now))
        }

        let cost = options.stepBase + options.stepPerSequence * running.count
        if cost > .zero {
            sleepUntil(started + cost)
        }
        var tokens: [StepToken] = []
        tokens.reserveCapacity(running.count)
        for index in running.indices {
            let tokenID = WhitespaceTokenizer.generatedTokenID(position: running[index].generated)
            running[index].generated += 1
            tokens.append(
                StepToken(
                    sequence: running[index].id, tokenID: tokenID, bytes: WhitespaceTokenizer.generatedBytes(tokenID),
                    isEndOfSequence: false))
        }
        return StepResult(tokens: tokens, duration: started.duration(to: .now))
    }

    private func sleepUntil(_ deadline: ContinuousClock.Instant) {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return }
            let (seconds, attoseconds) = remaining.components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            nanosleep(&request, nil)
        }
    }
}

/// The simulated accelerator's tokenizer: one token per whitespace-separated
/// word. Generated tokens cycle through a fixed list of words.
public struct WhitespaceTokenizer: ModelTokenizer {
    /// Words the simulated model generates, each sent with a leading space.
    static let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "runs", "far", "away",
        "into", "green", "hills",
    ]
    static let vocabularySize: Int32 = 50_000

    public init() {}

    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            // ASCII: split the bytes directly, without decoding scalars.
            var text = text
            text.withUTF8 { bytes in
                var start = 0
                for index in 0...bytes.count {
                    let isBoundary = index == bytes.count || bytes[index] == 0x20 || (0x09...0x0D).contains(bytes[index])
                    guard isBoundary else { continue }
                    if index > start { ids.append(Self.id(ofWord: UnsafeBufferPointer(rebasing: bytes[start..<index]))) }
                    start = index + 1
                }
            }
            return ids
        }
        var word: [UInt8] = []
        for scalar in text.unicodeScalars {
            let isWhitespace = scalar.isASCII
                ? scalar == " " || (0x09...0x0D).contains(scalar.value)
                : scalar.properties.isWhitespace
            if isWhitespace {
                if !word.isEmpty { ids.append(Self.id(ofWord: word)) }
                word.removeAll(keepingCapacity: true)
            } else {
                UTF8.encode(scalar) { word.append($0) }
            }
        }
        if !word.isEmpty { ids.append(Self.id(ofWord: word)) }
        return ids
    }

    private static func id(ofWord word: [UInt8]) -> Int32 {
        word.withUnsafeBufferPointer { id(ofWord: $0) }
    }

    private static func id(ofWord word: UnsafeBufferPointer<UInt8>) -> Int32 {
        // The list is short: comparing beats hashing.
        for (index, known) in wordBytes.enumerated() where known.count == word.count + 1 {
            if known.dropFirst().elementsEqual(word) { return Int32(index) }
        }
        // FNV-1a keeps ids of unknown words stable across runs.
        var hash: UInt32 = 2_166_136_261
        for byte in word { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return Int32(words.count) + Int32(hash % UInt32(vocabularySize - Int32(words.count)))
    }

    public func renderChat(_ messages: [ChatMessage]) throws -> String {
        messages.map { "\($0.role): \($0.content)" }.joined(separator: "\n") + "\nassistant:"
    }

    public var endOfSequenceTokenIDs: Set<Int32> { [] }

    static func generatedTokenID(position: Int) -> Int32 { Int32(position % words.count) }

    /// Bytes of each generated word, made once so steps copy no strings.
    private static let wordBytes = words.map { Array((" " + $0).utf8) }

    static func generatedBytes(_ id: Int32) -> [UInt8] { wordBytes[Int(id)] }
}
