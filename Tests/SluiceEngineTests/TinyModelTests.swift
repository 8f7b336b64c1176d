import CKernels
import Foundation
import SluiceCore
import Testing

@testable import SluiceEngine

/// A small llama model with random weights, written as a GGUF file, and a
/// plain double-precision forward pass to check the engine against.
struct TinyModel {
    static let hidden = 64
    static let ffn = 96
    static let heads = 2
    static let kvHeads = 1
    static let vocab = 40
    static let layers = 2
    static let contextLength = 64
    static let ropeTheta = 10_000.0
    static let epsilon: Float = 1e-5
    static var headDim: Int { hidden / heads }

    /// Dequantized weights by tensor name, row-major [rows][columns].
    var weights: [String: [Float]] = [:]
    var builder = GGUFBuilder()

    /// Builds the model with every matrix stored as `matrixType` and, when `untiedOutput`, a separate output matrix.
    init(matrixType: GGMLType, untiedOutput: Bool = false, seed: UInt64 = 1) {
        var random = TestRandom(seed: seed)
        builder.metadata = [
            ("general.architecture", .string("llama")),
            ("llama.block_count", .uint32(UInt32(Self.layers))),
            ("llama.embedding_length", .uint32(UInt32(Self.hidden))),
            ("llama.feed_forward_length", .uint32(UInt32(Self.ffn))),
            ("llama.attention.head_count", .uint32(UInt32(Self.heads))),
            ("llama.attention.head_count_kv", .uint32(UInt32(Self.kvHeads))),
            ("llama.context_length", .uint32(UInt32(Self.contextLength))),
            ("llama.rope.freq_base", .float32(Float(Self.ropeTheta))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(Self.epsilon)),
        ]

        func add(_ name: String, rows: Int, columns: Int, type: GGMLType, scale: Float) {
            var values = random.floats(rows * columns, scale: scale)
            let bytes: [UInt8]
            switch type {
            case .f32:
                bytes = values.withUnsafeBytes { Array($0) }
            case .f16:
                let halves = values.map { sk_fp32_to_fp16($0) }
                values = halves.map { sk_fp16_to_fp32($0) }
                bytes = halves.withUnsafeBytes { Array($0) }
            case .bf16:
                let brains = values.map { UInt16($0.bitPattern >> 16) }
                values = brains.map { Float(bitPattern: UInt32($0) << 16) }
                bytes = brains.withUnsafeBytes { Array($0) }
            default:
                bytes = TestQuantizer.quantize(values, type: type)
                values = KernelTests.dequantize(bytes, type: type, rows: rows, columns: columns)
            }
            weights[name] = values
            let dimensions = rows == 1 ? [UInt64(columns)] : [UInt64(columns), UInt64(rows)]
            builder.tensors.append(.init(name: name, dimensions: dimensions, typeCode: type.rawValue, data: bytes))
        }
        func addNorm(_ name: String) {
            let values = (0..<Self.hidden).map { _ in 1 + Float(random.generator.nextUnitInterval() - 0.5) * 0.4 }
            weights[name] = values
            builder.tensors.append(
                .init(name: name, dimensions: [UInt64(Self.hidden)], typeCode: 0, data: values.withUnsafeBytes { Array($0) }))
        }

        let kvDim = Self.kvHeads * Self.headDim
        add("token_embd.weight", rows: Self.vocab, columns: Self.hidden, type: matrixType, scale: 1)
        for layer in 0..<Self.layers {
            let prefix = "blk.\(layer)."
            let inputScale = 1 / Float(Self.hidden).squareRoot() * 1.7
            addNorm(prefix + "attn_norm.weight")
            add(prefix + "attn_q.weight", rows: Self.hidden, columns: Self.hidden, type: matrixType, scale: inputScale)
            add(prefix + "attn_k.weight", rows: kvDim, columns: Self.hidden, type: matrixType, scale: inputScale)
            add(prefix + "attn_v.weight", rows: kvDim, columns: Self.hidden, type: matrixType, scale: inputScale)
            add(prefix + "attn_output.weight", rows: Self.hidden, columns: Self.hidden, type: matrixType, scale: inputScale)
            addNorm(prefix + "ffn_norm.weight")
            add(prefix + "ffn_gate.weight", rows: Self.ffn, columns: Self.hidden, type: matrixType, scale: inputScale)
            add(prefix + "ffn_up.weight", rows: Self.ffn, columns: Self.hidden, type: matrixType, scale: inputScale)
            add(prefix + "ffn_down.weight", rows: Self.hidden, columns: Self.ffn,
                type: matrixType, scale: 1.7 / Float(Self.ffn).squareRoot())
        }
        addNorm("output_norm.weight")
        if untiedOutput {
            add("output.weight", rows: Self.vocab, columns: Self.hidden, type: matrixType, scale: 0.3)
        }
    }

    func write() throws -> String {
        try TestResources.writeTemporaryFile(builder.build())
    }

    // MARK: Reference forward pass

    private func matrix(_ name: String, _ x: [Double], rows: Int) -> [Double] {
        let w = weights[name]!
        let columns = x.count
        return (0..<rows).map { n in
            var sum = 0.0
            for k in 0..<columns { sum += Double(w[n * columns + k]) * x[k] }
            return sum
        }
    }

    private func rmsNorm(_ x: [Double], _ name: String) -> [Double] {
        let w = weights[name]!
        let mean = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let scale = 1 / (mean + Double(Self.epsilon)).squareRoot()
        return x.indices.map { x[$0] * scale * Double(w[$0]) }
    }

    private func rope(_ x: inout [Double], heads: Int, position: Int) {
        let d = Self.headDim
        for h in 0..<heads {
            for pair in 0..<d / 2 {
                let angle = Double(position) / pow(Self.ropeTheta, Double(2 * pair) / Double(d))
                let a = x[h * d + 2 * pair]
                let b = x[h * d + 2 * pair + 1]
                x[h * d + 2 * pair] = a * cos(angle) - b * sin(angle)
                x[h * d + 2 * pair + 1] = a * sin(angle) + b * cos(angle)
            }
        }
    }

    /// Returns the logits of the last position of `tokens`.
    func referenceLogits(_ tokens: [Int32]) -> [Double] {
        let d = Self.headDim
        let kvDim = Self.kvHeads * d
        let embedding = weights["token_embd.weight"]!
        var residual = tokens.map { token in
            (0..<Self.hidden).map { Double(embedding[Int(token) * Self.hidden + $0]) }
        }

        for layer in 0..<Self.layers {
            let prefix = "blk.\(layer)."
            var keys: [[Double]] = []
            var values: [[Double]] = []
            var queries: [[Double]] = []
            for (position, x) in residual.enumerated() {
                let normed = rmsNorm(x, prefix + "attn_norm.weight")
                var q = matrix(prefix + "attn_q.weight", normed, rows: Self.hidden)
                var k = matrix(prefix + "attn_k.weight", normed, rows: kvDim)
                rope(&q, heads: Self.heads, position: position)
                rope(&k, heads: Self.kvHeads, position: position)
                queries.append(q)
                keys.append(k)
                values.append(matrix(prefix + "attn_v.weight", normed, rows: kvDim))
            }
            for position in residual.indices {
                var attention = [Double](repeating: 0, count: Self.hidden)
                for h in 0..<Self.heads {
                    let kvHead = h / (Self.heads / Self.kvHeads)
                    var scores = (0...position).map { t in
                        (0..<d).reduce(0.0) { $0 + queries[position][h * d + $1] * keys[t][kvHead * d + $1] }
                            / Double(d).squareRoot()
                    }
                    let maxScore = scores.max()!
                    scores = scores.map { exp($0 - maxScore) }
                    let sum = scores.reduce(0, +)
                    for t in 0...position {
                        for i in 0..<d {
                            attention[h * d + i] += scores[t] / sum * values[t][kvHead * d + i]
                        }
                    }
                }
                let projected = matrix(prefix + "attn_output.weight", attention, rows: Self.hidden)
                for i in 0..<Self.hidden { residual[position][i] += projected[i] }

                let normed = rmsNorm(residual[position], prefix + "ffn_norm.weight")
                let gate = matrix(prefix + "ffn_gate.weight", normed, rows: Self.ffn)
                let up = matrix(prefix + "ffn_up.weight", normed, rows: Self.ffn)
                let hidden = gate.indices.map { gate[$0] / (1 + exp(-gate[$0])) * up[$0] }
                let down = matrix(prefix + "ffn_down.weight", hidden, rows: Self.hidden)
                for i in 0..<Self.hidden { residual[position][i] += down[i] }
            }
        }

        let final = rmsNorm(residual.last!, "output_norm.weight")
        let outputName = weights["output.weight"] == nil ? "token_embd.weight" : "output.weight"
        return matrix(outputName, final, rows: Self.vocab)
    }
}

@Suite("InferenceEngine with a tiny model")
struct TinyModelTests {
    /// Runs greedy steps and checks every step's logits against the reference forward pass.
    func checkAgainstReference(_ tiny: TinyModel, tolerance: Double, portable: Bool = false) throws {
        kernelSelectionLock.lock()
        defer { kernelSelectionLock.unlock() }
        let previous = sk_set_portable_only(portable ? 1 : 0)
        defer { sk_set_portable_only(previous) }
        let model = try LlamaModel(path: tiny.write())
        #expect(model.config.vocab == TinyModel.vocab)
        #expect(model.config.headDim == TinyModel.headDim)
        let engine = try InferenceEngine(model: model, options: EngineOptions(threads: 2, maxPassTokens: 32))

        let prompts: [[Int32]] = [[3, 17, 5, 22, 9, 1, 30, 12], [7], Array((0..<40).map { Int32($0 % 40) })]
        let results = try runGreedy(engine: engine, prompts: prompts, steps: 6)
        for (index, prompt) in prompts.enumerated() {
            var tokens = prompt
            for (stepIndex, step) in results[index].enumerated() {
                let expected = softmax(tiny.referenceLogits(tokens).map { Float($0) })
                let difference = zip(expected, step.probabilities).map { abs($0 - $1) }.max()!
                #expect(difference <= tolerance, "prompt \(index) step \(stepIndex): probabilities differ by \(difference)")
                tokens.append(step.token)
            }
        }
    }

    @Test("float weights match the reference", arguments: [GGMLType.f32, .f16, .bf16])
    func floatWeights(type: GGMLType) throws {
        try checkAgainstReference(TinyModel(matrixType: type, untiedOutput: type == .f16), tolerance: 2e-3)
    }

    @Test("quantized weights match the reference", arguments: [GGMLType.q8_0, .q4_0, .q4_1])
    func quantizedWeights(type: GGMLType) throws {
        // Activations are rounded to 8 bits, so the probabilities agree only approximately.
        try checkAgainstReference(TinyModel(matrixType: type, untiedOutput: type == .q4_1), tolerance: 0.03)
    }

    @Test("portable kernels match the reference")
    func portableKernels() throws {
        try checkAgainstReference(TinyModel(matrixType: .q4_1), tolerance: 0.03, portable: true)
    }

    @Test("unsupported tensor type rejected")
    func unsupportedTensorTypeRejected() throws {
        var tiny = TinyModel(matrixType: .q8_0)
        // Retype one matrix as Q5_0, which has 22-byte blocks of 32, and give it data of that size.
        let index = try #require(tiny.builder.tensors.firstIndex { $0.name == "blk.1.ffn_up.weight" })
        tiny.builder.tensors[index].typeCode = GGMLType.q5_0.rawValue
        tiny.builder.tensors[index].data = [UInt8](repeating: 0, count: TinyModel.ffn * TinyModel.hidden / 32 * 22)
        let path = try tiny.write()

        let error = #expect(throws: EngineError.self) { try LlamaModel(path: path) }
        #expect(error == .unsupportedTensorType(tensor: "blk.1.ffn_up.weight", type: .q5_0))
        #expect(error?.description.contains("blk.1.ffn_up.weight") == true)
        #expect(error?.description.contains("Q5_0") == true)
    }

    @Test("missing tensor rejected")
    func missingTensorRejected() throws {
        var tiny = TinyModel(matrixType: .f32)
        tiny.builder.tensors.removeAll { $0.name == "blk.0.attn_k.weight" }
        let path = try tiny.write()
        #expect(throws: EngineError.missingTensor("blk.0.attn_k.weight")) { try LlamaModel(path: path) }
    }

    @Test("wrong tensor shape rejected")
    func wrongShapeRejected() throws {
        var tiny = TinyModel(matrixType: .f32)
        let index = try #require(tiny.builder.tensors.firstIndex { $0.name == "blk.0.attn_v.weight" })
        tiny.builder.tensors[index].dimensions = [64, 16]
        tiny.builder.tensors[index].data = [UInt8](repeating: 0, count: 64 * 16 * 4)
        let path = try tiny.write()
        #expect(throws: EngineError.tensorShapeMismatch(tensor: "blk.0.attn_v.weight", expected: [64, 32], found: [64, 16])) {
            try LlamaModel(path: path)
        }
    }

    @Test("unsupported architecture rejected")
    func unsupportedArchitectureRejected() throws {
        var tiny = TinyModel(matrixType: .f32)
        tiny.builder.metadata[0] = ("general.architecture", .string("mamba"))
        let path = try tiny.write()
        #expect(throws: EngineError.unsupportedArchitecture("mamba")) { try LlamaModel(path: path) }
    }

    @Test("missing hyperparameter rejected")
    func missingHyperparameterRejected() throws {
        var tiny = TinyModel(matrixType: .f32)
        tiny.builder.metadata.removeAll { $0.0 == "llama.feed_forward_length" }
        let path = try tiny.write()
        #expect(throws: EngineError.missingMetadata(key: "llama.feed_forward_length")) { try LlamaModel(path: path) }
    }
}
