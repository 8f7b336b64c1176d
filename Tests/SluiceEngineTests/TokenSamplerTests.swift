import Foundation
import SluiceCore
import Testing

@testable import SluiceEngine

@Suite("TokenSampler")
struct TokenSamplerTests {
    static func sequence(
        _ sampling: SamplingParameters, tokens: [Int32] = [0], maxNewTokens: Int = 100
    ) -> EngineSequence {
        EngineSequence(
            admission: EngineSequenceAdmission(id: 1, promptTokens: tokens, sampling: sampling, maxNewTokens: maxNewTokens),
            pageTokens: 16)
    }

    /// Samples `count` times from fixed logits and returns how often each token came up.
    static func histogram(_ logits: [Float], _ sampling: SamplingParameters, count: Int, history: [Int32] = [0]) -> [Int] {
        let sampler = TokenSampler(vocab: logits.count)
        let sequence = sequence(sampling, tokens: history)
        var values = logits
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<count {
            let token = values.withUnsafeMutableBufferPointer { sampler.sample(logits: $0.baseAddress!, sequence: sequence) }
            counts[Int(token)] += 1
        }
        #expect(values == logits, "sampling must leave the logits unchanged")
        return counts
    }

    @Test("greedy picks the max")
    func greedyPicksMax() {
        let logits: [Float] = [0.5, 3, -1, 2.9, 3]
        #expect(Self.histogram(logits, .greedy, count: 3) == [0, 3, 0, 0, 0])  // ties go to the lower id
        #expect(Self.histogram(logits, SamplingParameters(temperature: 1, topK: 1), count: 3)[1] == 3)
    }

    @Test("repetition penalty")
    func repetitionPenalty() {
        let logits: [Float] = [2, 1.9, -0.5, -0.4]
        // Token 0 is in the history: 2 / 1.2 < 1.9, so greedy moves to token 1.
        #expect(Self.histogram(logits, SamplingParameters(temperature: 0, repetitionPenalty: 1.2), count: 1, history: [0, 0])[1] == 1)
        // Negative logits are multiplied: -0.4 * 1.5 < -0.5.
        let negative: [Float] = [-3, -3, -0.5, -0.4]
        #expect(Self.histogram(negative, SamplingParameters(temperature: 0, repetitionPenalty: 1.5), count: 1, history: [3])[2] == 1)
    }

    @Test("top-k limits candidates")
    func topKLimitsCandidates() {
        let logits: [Float] = [1, 5, 4, 0, 3, 4.5]
        let counts = Self.histogram(logits, SamplingParameters(temperature: 5, topK: 3, seed: 9), count: 3000)
        #expect(counts[0] == 0)
        #expect(counts[3] == 0)
        #expect(counts[4] == 0)
        #expect(counts[1] > 0)
        #expect(counts[2] > 0)
        #expect(counts[5] > 0)
    }

    @Test("top-p limits candidates")
    func topPLimitsCandidates() {
        // Probabilities about 0.64, 0.24, 0.09, 0.03: top-p 0.8 keeps the first two.
        let logits: [Float] = [3, 2, 1, 0]
        let counts = Self.histogram(logits, SamplingParameters(temperature: 1, topP: 0.8, seed: 4), count: 4000)
        #expect(counts[2] == 0)
        #expect(counts[3] == 0)
        let ratio = Double(counts[0]) / Double(counts[1])
        #expect(abs(ratio - 2.718) < 0.35, "ratio \(ratio)")
    }

    @Test("temperature sampling follows softmax")
    func temperatureFollowsSoftmax() {
        let logits: [Float] = [0, 1, 2]
        let counts = Self.histogram(logits, SamplingParameters(temperature: 2, seed: 11), count: 20000)
        let weights = logits.map { exp(Double($0) / 2) }
        let total = weights.reduce(0, +)
        for index in 0..<3 {
            let expected = weights[index] / total
            let observed = Double(counts[index]) / 20000
            #expect(abs(observed - expected) < 0.015, "token \(index): \(observed) vs \(expected)")
        }
    }

    @Test("same seed same tokens")
    func sameSeedSameTokens() {
        let logits: [Float] = (0..<1000).map { Float($0 % 17) * 0.3 }
        let first = Self.histogram(logits, SamplingParameters(temperature: 1, topP: 0.9, seed: 5), count: 50)
        let second = Self.histogram(logits, SamplingParameters(temperature: 1, topP: 0.9, seed: 5), count: 50)
        let other = Self.histogram(logits, SamplingParameters(temperature: 1, topP: 0.9, seed: 6), count: 50)
        #expect(first == second)
        #expect(first != other)
    }

    @Test("SplitMix64 known values")
    func splitMixKnownValues() {
        // Reference outputs of SplitMix64 seeded with 0.
        var generator = SplitMix64(seed: 0)
        #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
        #expect(generator.next() == 0x6E78_9E6A_A1B9_65F4)
    }
}
