import Foundation
import SluiceCore
import Testing

@testable import SluiceEngine

@Suite("InferenceEngine with the real model", .serialized)
struct InferenceEngineTests {
    /// Steps whose reference margin (top-1 minus top-2 probability) is below this are unclear:
    /// the comparison with llama.cpp stops there.
    static let unclearMargin = 0.02
    /// The probability tolerance that the reference data requires.
    static let strictTolerance = 0.02
    /// Bounds that a correct engine meets despite 8-bit activation noise (see `greedyMatchesReference`).
    static let noiseTolerance = 0.1
    static let clearMargin = 0.1
    static let minimumStrictFraction = 0.8

    /// Compares greedy decoding with llama.cpp's reference steps.
    ///
    /// llama.cpp and this engine both quantize activations to 8 bits before
    /// each matrix multiplication. In this model a few channels carry values
    /// a hundred times larger than the rest, so the 8-bit rounding noise moves
    /// output probabilities by up to about 0.07. A change of 1e-7 in the
    /// inputs already changes which way some values round, so the engine meets
    /// the 0.02 tolerance only because its kernels round as llama.cpp's CPU
    /// build does. A float engine with dequantized weights differs from
    /// llama.cpp by up to 0.06. The looser bounds tell a rounding change
    /// from a broken engine.
    @Test("greedy decoding matches llama.cpp")
    func greedyMatchesReference() throws {
        kernelSelectionLock.lock()
        defer { kernelSelectionLock.unlock() }
        let golden = try TestResources.loadGolden()
        let engine = try InferenceEngine(model: SharedModel.get(), options: EngineOptions(threads: 2))

        var checks = 0
        var strictMisses: [String] = []
        var comparedSteps = 0

        for (caseIndex, reference) in golden.greedy.enumerated() {
            let steps = try runGreedy(engine: engine, prompts: [reference.promptIDs], steps: reference.steps.count)[0]

            for (stepIndex, referenceStep) in reference.steps.enumerated() {
                let step = steps[stepIndex]
                let label = "case \(caseIndex) step \(stepIndex)"
                for pair in referenceStep.top {
                    let token = Int(pair[0])
                    let difference = abs(step.probabilities[token] - pair[1])
                    checks += 1
                    #expect(
                        difference <= Self.noiseTolerance,
                        "\(label): token \(token) has probability \(step.probabilities[token]), reference \(pair[1])")
                    if difference > Self.strictTolerance {
                        strictMisses.append("\(label) token \(token): \(step.probabilities[token]) vs \(pair[1])")
                    }
                }

                let margin = referenceStep.top[0][1] - referenceStep.top[1][1]
                if margin < Self.unclearMargin { break }
                comparedSteps += 1
                if step.token != referenceStep.id {
                    #expect(
                        margin < Self.clearMargin,
                        "\(label): token \(step.token), reference \(referenceStep.id) with margin \(margin)")
                    strictMisses.append("\(label): token \(step.token), reference \(referenceStep.id), margin \(margin)")
                    // The sequences diverge from here, so later steps are not comparable.
                    break
                }
            }
        }

        #expect(comparedSteps >= 60, "only \(comparedSteps) reference steps were compared")
        let strictFraction = 1 - Double(strictMisses.count) / Double(checks)
        #expect(
            strictFraction >= Self.minimumStrictFraction,
            "only \(Int(strictFraction * 100))% of \(checks) checks are within \(Self.strictTolerance) of llama.cpp")
        let missCount = strictMisses.count
        #expect(missCount == 0, "\(missCount) of \(checks) checks off by more than 0.02, first: \(strictMisses.prefix(5))")
    }

    @Test("batched sequences match solo runs")
    func batchedMatchesSolo() throws {
        kernelSelectionLock.lock()
        defer { kernelSelectionLock.unlock() }
        let golden = try TestResources.loadGolden()
        let engine = try InferenceEngine(model: SharedModel.get(), options: EngineOptions(threads: 2))
        let prompts = golden.greedy.map(\.promptIDs) + [[1, 4093, 198]]
        let stepCount = 10

        var solo: [[GreedyStep]] = []
        for prompt in prompts {
            solo.append(try runGreedy(engine: engine, prompts: [prompt], steps: stepCount)[0])
        }

        let together = try runGreedy(engine: engine, prompts: prompts, steps: stepCount)
        let staggered = try runGreedy(
            engine: engine, prompts: prompts, steps: stepCount, admissionSteps: [0, 0, 1, 1, 2, 3, 5, 5, 8, 13])

        for (name, batched) in [("admitted together", together), ("admitted over several steps", staggered)] {
            for index in prompts.indices {
                for step in 0..<stepCount {
                    let alone = solo[index][step]
                    let shared = batched[index][step]
                    let sorted = alone.probabilities.sorted(by: >)
                    if sorted[0] - sorted[1] >= Self.unclearMargin {
                        #expect(shared.token == alone.token, "\(name): sequence \(index) step \(step)")
                    }
                    // The kernels compute each row in the same order whatever the batch, so the results are identical.
                    let difference = zip(alone.probabilities, shared.probabilities).map { abs($0 - $1) }.max() ?? 0
                    #expect(difference == 0, "\(name): sequence \(index) step \(step) differs by \(difference)")
                }
            }
        }
    }

    @Test("long prompt spans several passes")
    func longPromptSpansPasses() throws {
        let golden = try TestResources.loadGolden()
        let prompt = Array(golden.greedy.map(\.promptIDs).joined())
        let model = try SharedModel.get()
        let small = try InferenceEngine(model: model, options: EngineOptions(threads: 2, maxBatchSize: 4, maxPassTokens: 64))
        let large = try InferenceEngine(model: model, options: EngineOptions(threads: 2, maxPassTokens: 512))
        #expect(prompt.count > 2 * 64)

        let split = try runGreedy(engine: small, prompts: [prompt], steps: 4)[0]
        let whole = try runGreedy(engine: large, prompts: [prompt], steps: 4)[0]
        for step in 0..<4 {
            #expect(split[step].token == whole[step].token, "step \(step)")
            #expect(split[step].probabilities == whole[step].probabilities, "step \(step)")
        }
    }

    @Test("seeded sampling is reproducible")
    func seededSamplingReproducible() throws {
        let engine = try InferenceEngine(model: SharedModel.get(), options: EngineOptions(threads: 2))
        let prompt: [Int32] = [1, 4093, 198, 19556, 260, 2496, 314]
        func sample(seed: UInt64, id: UInt64) throws -> [Int32] {
            let sampling = SamplingParameters(temperature: 1.2, topP: 0.95, topK: 0, seed: seed)
            var tokens: [Int32] = []
            var admit = [EngineSequenceAdmission(id: id, promptTokens: prompt, sampling: sampling, maxNewTokens: 16)]
            for _ in 0..<16 {
                let step = try engine.step(release: [], admit: admit)
                admit = []
                tokens.append(try #require(step.first { $0.sequence == id }).tokenID)
            }
            _ = try engine.step(release: [id], admit: [])
            return tokens
        }

        let first = try sample(seed: 42, id: 1)
        let again = try sample(seed: 42, id: 2)
        let other = try sample(seed: 43, id: 3)
        #expect(first == again)
        #expect(first != other)
    }

    @Test("KV cache freed on release")
    func kvCacheFreedOnRelease() throws {
        let engine = try InferenceEngine(
            model: SharedModel.get(), options: EngineOptions(threads: 2, kvBudgetTokens: 4096, kvPageTokens: 16))
        #expect(engine.kvBytesAllocated == 0)

        let admissions = (0..<3).map { index in
            EngineSequenceAdmission(
                id: UInt64(index), promptTokens: Array(repeating: 198, count: 20 + index), sampling: .greedy,
                maxNewTokens: 100)
        }
        let tokens = try engine.step(release: [], admit: admissions)
        #expect(tokens.map(\.sequence) == [0, 1, 2])
        #expect(engine.runningSequenceCount == 3)
        #expect(engine.kvTokensInUse == 20 + 21 + 22)
        #expect(engine.kvTokensReserved == 120 + 121 + 122)
        #expect(engine.kvBytesAllocated == 6 * engine.pages.pageBytes)  // two 16-token pages each

        _ = try engine.step(release: [1], admit: [])
        #expect(engine.runningSequenceCount == 2)
        #expect(engine.kvTokensInUse == 21 + 23)
        #expect(engine.kvTokensReserved == 120 + 122)
        #expect(engine.lastLogits(of: 1) == nil)

        _ = try engine.step(release: [0, 2, 99], admit: [])
        #expect(engine.runningSequenceCount == 0)
        #expect(engine.kvTokensInUse == 0)
        #expect(engine.kvTokensReserved == 0)
        #expect(engine.kvBytesAllocated == 0)
    }

    @Test("admission errors")
    func admissionErrors() throws {
        let model = try SharedModel.get()
        let engine = try InferenceEngine(
            model: model, options: EngineOptions(threads: 1, maxBatchSize: 2, kvBudgetTokens: 1000, maxPassTokens: 64))
        func admission(_ id: UInt64, prompt: [Int32] = [1, 2, 3], maxNewTokens: Int = 10) -> EngineSequenceAdmission {
            EngineSequenceAdmission(id: id, promptTokens: prompt, sampling: .greedy, maxNewTokens: maxNewTokens)
        }

        #expect(throws: EngineError.contextLengthExceeded(sequence: 1, tokens: 8195, contextLength: 8192)) {
            try engine.step(release: [], admit: [admission(1, maxNewTokens: 8192)])
        }
        #expect(throws: EngineError.kvBudgetExceeded(sequence: 1, requested: 1003, available: 1000)) {
            try engine.step(release: [], admit: [admission(1, maxNewTokens: 1000)])
        }
        #expect(throws: EngineError.self) { try engine.step(release: [], admit: [admission(1, prompt: [])]) }
        #expect(throws: EngineError.self) { try engine.step(release: [], admit: [admission(1, prompt: [1, 49152])]) }
        #expect(throws: EngineError.self) { try engine.step(release: [], admit: [admission(1, prompt: [-1])]) }
        #expect(throws: EngineError.self) { try engine.step(release: [], admit: [admission(1, maxNewTokens: 0)]) }
        #expect(throws: EngineError.self) { try engine.step(release: [], admit: [admission(1), admission(1)]) }
        #expect(engine.runningSequenceCount == 0)

        _ = try engine.step(release: [], admit: [admission(1, maxNewTokens: 2), admission(2, maxNewTokens: 600)])
        #expect(throws: EngineError.batchFull(sequence: 3, maxBatchSize: 2)) {
            try engine.step(release: [], admit: [admission(3)])
        }
        // Releasing sequence 2 in the same step frees its 603 tokens for the check; 1000 - 5 remain.
        #expect(throws: EngineError.kvBudgetExceeded(sequence: 3, requested: 1003, available: 995)) {
            try engine.step(release: [2], admit: [admission(3, maxNewTokens: 1000)])
        }
        #expect(engine.runningSequenceCount == 2, "a rejected step must not release sequence 2")
        #expect(throws: EngineError.invalidAdmission(sequence: 1, reason: "a sequence with this id is already running")) {
            try engine.step(release: [], admit: [admission(1)])
        }
        #expect(engine.runningSequenceCount == 2)

        _ = try engine.step(release: [], admit: [])
        #expect(throws: EngineError.sequenceFinished(sequence: 1, maxNewTokens: 2)) {
            try engine.step(release: [], admit: [])
        }
        // Releasing and admitting the same id in one step replaces the sequence.
        let tokens = try engine.step(release: [1], admit: [admission(1)])
        #expect(tokens.map(\.sequence) == [2, 1])
    }

    @Test("error messages name the problem")
    func errorMessages() {
        let error = EngineError.unsupportedTensorType(tensor: "blk.0.attn_q.weight", type: .q5_K)
        #expect(error.description.contains("blk.0.attn_q.weight"))
        #expect(error.description.contains("Q5_K"))
        let budget = EngineError.kvBudgetExceeded(sequence: 7, requested: 300, available: 100)
        #expect(budget.description.contains("300"))
        #expect(budget.description.contains("sequence 7"))
    }
}
