import Foundation
import SluiceCore
import Testing

@testable import SluiceEngine

/// The test model, loaded once per test process.
enum SharedModel {
    private static let loaded: Result<LlamaModel, any Error> = Result {
        try LlamaModel(file: TestResources.openModelFile())
    }

    static func get() throws -> LlamaModel {
        try loaded.get()
    }
}

/// Converts logits to probabilities with a plain softmax, in double precision.
func softmax(_ logits: [Float]) -> [Double] {
    let maxLogit = Double(logits.max() ?? 0)
    let exponentials = logits.map { exp(Double($0) - maxLogit) }
    let sum = exponentials.reduce(0, +)
    return exponentials.map { $0 / sum }
}

/// One step of a greedy run: the chosen token and the probabilities it was chosen from.
struct GreedyStep {
    var token: Int32
    var probabilities: [Double]
}

/// Runs sequences greedily through one engine, admitting each at its given step,
/// and returns each sequence's steps.
func runGreedy(
    engine: InferenceEngine, prompts: [[Int32]], steps: Int, admissionSteps: [Int]? = nil
) throws -> [[GreedyStep]] {
    var results = Array(repeating: [GreedyStep](), count: prompts.count)
    let admitAt = admissionSteps ?? Array(repeating: 0, count: prompts.count)
    var finished = Set<Int>()
    var stepIndex = 0

    while finished.count < prompts.count {
        var admissions: [EngineSequenceAdmission] = []
        for (index, prompt) in prompts.enumerated() where admitAt[index] == stepIndex {
            admissions.append(
                EngineSequenceAdmission(
                    id: UInt64(index), promptTokens: prompt, sampling: .greedy, maxNewTokens: steps))
        }
        var releases: [UInt64] = []
        for index in prompts.indices where results[index].count == steps && !finished.contains(index) {
            releases.append(UInt64(index))
            finished.insert(index)
        }
        if finished.count == prompts.count {
            _ = try engine.step(release: releases, admit: [])
            break
        }

        let tokens = try engine.step(release: releases, admit: admissions)
        for token in tokens {
            let index = Int(token.sequence)
            let logits = try #require(engine.lastLogits(of: token.sequence))
            results[index].append(GreedyStep(token: token.tokenID, probabilities: softmax(logits)))
        }
        stepIndex += 1
    }
    return results
}

/// Serializes tests that switch the process-wide kernel selection (`sk_set_portable_only`)
/// with tests whose results depend on which kernels run, because Swift Testing runs suites in parallel.
let kernelSelectionLock = NSLock()
