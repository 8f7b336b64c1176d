import CKernels
import SluiceCore

/// Chooses the next token from a sequence's logits: repetition penalty, then
/// greedy choice at temperature 0, or else temperature, top-k, top-p and a
/// draw from the sequence's own generator.
///
/// The scratch buffers are reused across calls, so sampling allocates nothing
/// after the first few steps.
final class TokenSampler {
    let vocab: Int
    private let probabilities: UnsafeMutablePointer<Float>
    private var candidates: [Int32] = []
    /// `seenStamp[token] == stamp` marks tokens already penalized in this call.
    private var seenStamp: [UInt32]
    private var stamp: UInt32 = 0
    /// Logits changed by the penalty, with their original values, restored before returning.
    private var penalized: [(token: Int32, logit: Float)] = []

    /// Tokens below this probability relative to the most likely one (e^-20)
    /// enter top-p only when the others do not reach the requested mass.
    private static let minimumCandidateProbability: Float = 2.0611536e-9

    init(vocab: Int) {
        self.vocab = vocab
        probabilities = .allocate(capacity: vocab)
        seenStamp = Array(repeating: 0, count: vocab)
        candidates.reserveCapacity(vocab)
    }

    deinit {
        probabilities.deallocate()
    }

    /// Returns the next token of `sequence` from its `vocab` logits.
    /// The logits are the same on return as on entry.
    func sample(logits: UnsafeMutablePointer<Float>, sequence: EngineSequence) -> Int32 {
        let parameters = sequence.sampling
        applyRepetitionPenalty(logits: logits, tokens: sequence.tokens, penalty: parameters.repetitionPenalty)
        defer { restorePenalizedLogits(logits) }

        if parameters.temperature <= 0 || parameters.topK == 1 {
            return Self.argmax(logits, count: vocab)
        }
        return sampleTempered(logits: logits, parameters: parameters, random: &sequence.random)
    }

    static func argmax(_ logits: UnsafePointer<Float>, count: Int) -> Int32 {
        var best = 0
        var bestValue = logits[0]
        for index in 1..<count where logits[index] > bestValue {
            best = index
            bestValue = logits[index]
        }
        return Int32(best)
    }

    private func applyRepetitionPenalty(logits: UnsafeMutablePointer<Float>, tokens: [Int32], penalty: Float) {
        guard penalty != 1, penalty > 0 else { return }
        stamp &+= 1
        if stamp == 0 {
            // The stamp wrapped: clear the marks so that old ones cannot match.
            for index in seenStamp.indices { seenStamp[index] = 0 }
            stamp = 1
        }
        for token in tokens where seenStamp[Int(token)] != stamp {
            seenStamp[Int(token)] = stamp
            let logit = logits[Int(token)]
            penalized.append((token, logit))
            logits[Int(token)] = logit > 0 ? logit / penalty : logit * penalty
        }
    }

    private func restorePenalizedLogits(_ logits: UnsafeMutablePointer<Float>) {
        for (token, logit) in penalized {
            logits[Int(token)] = logit
        }
        penalized.removeAll(keepingCapacity: true)
    }

    private func sampleTempered(
        logits: UnsafeMutablePointer<Float>, parameters: SamplingParameters, random: inout SplitMix64
    ) -> Int32 {
        let maxLogit = logits[Int(Self.argmax(logits, count: vocab))]
        let inverseTemperature = 1 / parameters.temperature
        let total = sk_exp_shifted(logits, Int32(vocab), maxLogit, inverseTemperature, probabilities)
        let topP = parameters.topP
        let probabilities = self.probabilities

        var mass: Float
        if parameters.topK > 0 && parameters.topK < vocab {
            selectTopK(logits: logits, k: parameters.topK)
            mass = candidates.reduce(0) { $0 + probabilities[Int($1)] }
        } else if topP < 1 {
            selectLikely(minimumProbability: Self.minimumCandidateProbability)
            mass = total
            let candidateMass = candidates.reduce(0) { $0 + probabilities[Int($1)] }
            if candidateMass < topP * total {
                candidates = Array(0..<Int32(vocab))
            }
            candidates.sort { probabilities[Int($0)] > probabilities[Int($1)] }
        } else {
            return drawFromAll(total: total, random: &random)
        }

        // Keep the shortest prefix of the sorted candidates that reaches top-p of the mass.
        var keep = candidates.count
        if topP < 1 {
            var cumulative: Float = 0
            for (index, token) in candidates.enumerated() {
                cumulative += probabilities[Int(token)]
                if cumulative >= topP * mass {
                    keep = index + 1
                    break
                }
            }
        }
        var keptMass: Float = 0
        for token in candidates[0..<keep] {
            keptMass += probabilities[Int(token)]
        }

        var target = Float(random.nextUnitInterval()) * keptMass
        for token in candidates[0..<keep] {
            target -= probabilities[Int(token)]
            if target < 0 { return token }
        }
        return candidates[keep - 1]
    }

    private func drawFromAll(total: Float, random: inout SplitMix64) -> Int32 {
        var target = Float(random.nextUnitInterval()) * total
        var last = 0
        for index in 0..<vocab where probabilities[index] > 0 {
            target -= probabilities[index]
            last = index
            if target < 0 { return Int32(index) }
        }
        return Int32(last)
    }

    /// Fills `candidates` with the `k` tokens of highest logit, highest first (ties: lower id first).
    private func selectTopK(logits: UnsafePointer<Float>, k: Int) {
        candidates.removeAll(keepingCapacity: true)
        // A sorted list of the best k so far; most tokens fail the first comparison with the smallest.
        for index in 0..<vocab {
            let value = logits[index]
            if candidates.count == k {
                guard value > logits[Int(candidates[k - 1])] else { continue }
                candidates.removeLast()
            }
            var position = candidates.count
            while position > 0 && logits[Int(candidates[position - 1])] < value {
                position -= 1
            }
            candidates.insert(Int32(index), at: position)
        }
    }

    private func selectLikely(minimumProbability: Float) {
        candidates.removeAll(keepingCapacity: true)
        for index in 0..<vocab where probabilities[index] >= minimumProbability {
            candidates.append(Int32(index))
        }
    }
}
