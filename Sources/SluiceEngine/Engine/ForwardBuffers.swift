import CKernels

/// Scratch memory of the forward pass, allocated once for the largest pass
/// (`maxPassTokens` rows) and reused by every step.
final class ForwardBuffers {
    let rows: Int
    /// Residual stream, [rows][hidden].
    let residual: UnsafeMutablePointer<Float>
    /// Normalized input of the next matrix multiplication, [rows][hidden].
    let normalized: UnsafeMutablePointer<Float>
    let query: UnsafeMutablePointer<Float>
    let key: UnsafeMutablePointer<Float>
    let value: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    /// Output of a projection before it is added to the residual stream, [rows][hidden].
    let projection: UnsafeMutablePointer<Float>
    let gate: UnsafeMutablePointer<Float>
    let up: UnsafeMutablePointer<Float>
    /// cos and sin of every rotary pair of every row, [rows][headDim].
    let rotary: UnsafeMutablePointer<Float>
    let tokens: UnsafeMutablePointer<Int32>
    let positions: UnsafeMutablePointer<Int32>

    /// 8-bit activations of the next matrix multiplication.
    let quantizedValues: UnsafeMutablePointer<Int8>
    let quantizedScales: UnsafeMutablePointer<Float>
    let quantizedSums: UnsafeMutablePointer<Float>

    /// Logits of the sequences that finished their pending tokens this step, [maxBatchSize][vocab].
    let logits: UnsafeMutablePointer<Float>
    /// Final normalized rows whose logits are computed, [maxBatchSize][hidden].
    let logitsInput: UnsafeMutablePointer<Float>

    /// Per-thread attention score buffers.
    let attentionScratch: UnsafeMutablePointer<Float>
    let attentionScratchStride: Int
    let attentionSequences: UnsafeMutablePointer<sk_attention_sequence>
    let matrices: UnsafeMutablePointer<sk_qmatrix>

    private let allocations: [UnsafeMutableRawPointer]

    init(config: LlamaConfig, options: EngineOptions) {
        let rows = options.maxPassTokens
        let widest = max(config.hidden, config.ffn)
        self.rows = rows
        var allocations: [UnsafeMutableRawPointer] = []

        func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            allocations.append(UnsafeMutableRawPointer(pointer))
            return pointer
        }

        residual = floats(rows * config.hidden)
        normalized = floats(rows * config.hidden)
        query = floats(rows * config.hidden)
        key = floats(rows * config.kvDim)
        value = floats(rows * config.kvDim)
        attention = floats(rows * config.hidden)
        projection = floats(rows * config.hidden)
        gate = floats(rows * config.ffn)
        up = floats(rows * config.ffn)
        rotary = floats(rows * config.headDim)
        quantizedScales = floats(rows * Self.scaleStride(columns: widest))
        quantizedSums = floats(rows * Self.scaleStride(columns: widest))
        logits = floats(options.maxBatchSize * config.vocab)
        logitsInput = floats(options.maxBatchSize * config.hidden)

        let group = config.heads / config.kvHeads
        attentionScratchStride = max(group * (config.contextLength + 8), 2 * config.headDim)
        attentionScratch = floats(options.threads * attentionScratchStride)

        quantizedValues = .allocate(capacity: rows * widest)
        allocations.append(UnsafeMutableRawPointer(quantizedValues))
        tokens = .allocate(capacity: rows)
        allocations.append(UnsafeMutableRawPointer(tokens))
        positions = .allocate(capacity: rows)
        allocations.append(UnsafeMutableRawPointer(positions))
        attentionSequences = .allocate(capacity: options.maxBatchSize)
        allocations.append(UnsafeMutableRawPointer(attentionSequences))
        matrices = .allocate(capacity: 4)
        allocations.append(UnsafeMutableRawPointer(matrices))
        self.allocations = allocations
    }

    deinit {
        for allocation in allocations {
            allocation.deallocate()
        }
    }

    /// Floats per row of block scales for rows of `columns` values: one per 32, rounded up to 8 for the kernels.
    static func scaleStride(columns: Int) -> Int {
        (columns / 32 + 7) / 8 * 8
    }

    /// Returns the quantized-activation descriptor for rows of `columns` values.
    func quantizedRows(columns: Int) -> sk_q8_rows {
        sk_q8_rows(
            q: quantizedValues, d: quantizedScales, s: quantizedSums, q_stride: columns,
            ds_stride: Self.scaleStride(columns: columns), rows: 0, columns: Int32(columns))
    }
}
