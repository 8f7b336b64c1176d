import CBLAS
import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension InferenceEngine {
    /// Consecutive rows of one forward pass that belong to one sequence.
    struct Segment {
        let sequence: EngineSequence
        let firstRow: Int
        let count: Int
        let firstPosition: Int

        /// Whether the segment ends at the sequence's last token, so its last row needs logits.
        var completesSequence: Bool { firstPosition + count == sequence.tokens.count }
    }

    /// A matrix multiplication's weights and where its output rows go.
    struct Projection {
        let matrix: WeightMatrix
        let output: UnsafeMutablePointer<Float>
        let outputStride: Int
    }

    /// Processes every running sequence's pending tokens (a prompt, or the last
    /// sampled token) and writes the logits of each sequence's last position.
    ///
    /// Rows are packed into passes of at most `maxPassTokens`; a long prompt
    /// spans several passes, each attending to the positions cached before it.
    func runForward() throws(EngineError) {
        var segments: [Segment] = []
        segments.reserveCapacity(running.count)
        var rowCount = 0
        var nextLogitsSlot = 0

        for sequence in running {
            var position = sequence.cachedCount
            let end = sequence.tokens.count
            while position < end {
                if rowCount == buffers.rows {
                    try runPass(segments: segments, rows: rowCount, nextLogitsSlot: &nextLogitsSlot)
                    segments.removeAll(keepingCapacity: true)
                    rowCount = 0
                }
                let count = min(end - position, buffers.rows - rowCount)
                segments.append(Segment(sequence: sequence, firstRow: rowCount, count: count, firstPosition: position))
                rowCount += count
                position += count
            }
        }
        if rowCount > 0 {
            try runPass(segments: segments, rows: rowCount, nextLogitsSlot: &nextLogitsSlot)
        }
    }

    private func runPass(segments: [Segment], rows: Int, nextLogitsSlot: inout Int) throws(EngineError) {
        let hidden = config.hidden
        for segment in segments {
            try segment.sequence.reserveCache(positions: segment.firstPosition + segment.count, allocator: pages)
        }

        for segment in segments {
            for offset in 0..<segment.count {
                let row = segment.firstRow + offset
                let position = segment.firstPosition + offset
                model.embed(token: segment.sequence.tokens[position], into: buffers.residual + row * hidden)
                fillRotaryAngles(row: row, position: position)
            }
        }

        for index in model.layers.indices {
            runLayer(index, segments: segments, rows: rows)
        }

        // Logits only for the last row of each sequence that finished its pending tokens.
        let firstSlot = nextLogitsSlot
        var logitsRows = 0
        for segment in segments where segment.completesSequence {
            let row = segment.firstRow + segment.count - 1
            sk_rms_norm(
                buffers.residual + row * hidden, hidden, buffers.logitsInput + logitsRows * hidden, hidden, 1,
                Int32(hidden), model.outputNorm, config.rmsEps)
            segment.sequence.logitsSlot = nextLogitsSlot
            nextLogitsSlot += 1
            logitsRows += 1
        }
        if logitsRows > 0 {
            let output = Projection(
                matrix: model.output, output: buffers.logits + firstSlot * config.vocab, outputStride: config.vocab)
            project(input: buffers.logitsInput, inputStride: hidden, rows: logitsRows, columns: hidden, output)
        }

        for segment in segments {
            segment.sequence.cachedCount += segment.count
        }
    }

    private func runLayer(_ index: Int, segments: [Segment], rows: Int) {
        let layer = model.layers[index]
        let hidden = config.hidden
        let kvDim = config.kvDim
        let ffn = config.ffn
        let b = buffers

        // Attention block.
        sk_rms_norm(b.residual, hidden, b.normalized, hidden, Int32(rows), Int32(hidden), layer.attentionNorm, config.rmsEps)
        project(
            input: b.normalized, inputStride: hidden, rows: rows, columns: hidden,
            Projection(matrix: layer.query, output: b.query, outputStride: hidden),
            Projection(matrix: layer.key, output: b.key, outputStride: kvDim),
            Projection(matrix: layer.value, output: b.value, outputStride: kvDim))
        sk_rope(b.query, hidden, Int32(rows), Int32(config.heads), Int32(config.headDim), b.rotary)
        sk_rope(b.key, kvDim, Int32(rows), Int32(config.kvHeads), Int32(config.headDim), b.rotary)

        for (slot, segment) in segments.enumerated() {
            let pages = UnsafePointer(segment.sequence.pages)
            sk_kv_store(
                self.pages.layout, pages, Int32(index), Int32(segment.firstPosition), Int32(segment.count),
                b.key + segment.firstRow * kvDim, kvDim, b.value + segment.firstRow * kvDim, kvDim)
            b.attentionSequences[slot] = sk_attention_sequence(
                pages: pages, first_position: Int32(segment.firstPosition), count: Int32(segment.count),
                q: b.query + segment.firstRow * hidden, output: b.attention + segment.firstRow * hidden)
        }
        var parameters = sk_attention_parameters(
            layout: pages.layout, layer: Int32(index), heads: Int32(config.heads), q_stride: hidden,
            output_stride: hidden, scale: 1 / Float(config.headDim).squareRoot(), scratch: b.attentionScratch,
            scratch_stride: b.attentionScratchStride)
        sk_attention(pool.pool, &parameters, b.attentionSequences, Int32(segments.count))

        project(
            input: b.attention, inputStride: hidden, rows: rows, columns: hidden,
            Projection(matrix: layer.attentionOutput, output: b.projection, outputStride: hidden))
        sk_add_rows(b.residual, hidden, b.projection, hidden, Int32(rows), Int32(hidden))

        // Feed-forward block: down(silu(gate(x)) * up(x)).
        sk_rms_norm(b.residual, hidden, b.normalized, hidden, Int32(rows), Int32(hidden), layer.feedForwardNorm, config.rmsEps)
        project(
            input: b.normalized, inputStride: hidden, rows: rows, columns: hidden,
            Projection(matrix: layer.gate, output: b.gate, outputStride: ffn),
            Projection(matrix: layer.up, output: b.up, outputStride: ffn))
        sk_silu_multiply(b.gate, ffn, b.up, ffn, Int32(rows), Int32(ffn))
        project(
            input: b.gate, inputStride: ffn, rows: rows, columns: ffn,
            Projection(matrix: layer.down, output: b.projection, outputStride: hidden))
        sk_add_rows(b.residual, hidden, b.projection, hidden, Int32(rows), Int32(hidden))
    }

    /// Multiplies `rows` input rows by up to three weight matrices that share the input.
    ///
    /// Quantized matrices run together in one pool job on 8-bit activations;
    /// float matrices go to BLAS on the float input.
    private func project(
        input: UnsafePointer<Float>, inputStride: Int, rows: Int, columns: Int,
        _ first: Projection, _ second: Projection? = nil, _ third: Projection? = nil
    ) {
        var quantizedCount = 0
        for index in 0..<3 {
            // A switch instead of an array of the three keeps this per-layer call free of allocations.
            let candidate: Projection?
            switch index {
            case 0: candidate = first
            case 1: candidate = second
            default: candidate = third
            }
            guard let projection = candidate else { continue }
            switch projection.matrix.storage {
            case .quantized(let type, let rowBytes, let base):
                buffers.matrices[quantizedCount] = sk_qmatrix(
                    type: type.kernelType, weights: base, row_bytes: rowBytes, rows: Int32(projection.matrix.rows),
                    output: projection.output, output_stride: projection.outputStride)
                quantizedCount += 1
            case .float(let weights):
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(projection.matrix.rows), Int32(columns),
                    1, input, Int32(inputStride), weights, Int32(columns), 0, projection.output,
                    Int32(projection.outputStride))
            }
        }
        guard quantizedCount > 0 else { return }

        var activations = buffers.quantizedRows(columns: columns)
        sk_quantize_rows(input, inputStride, Int32(rows), Int32(columns), &activations)
        let status = sk_qmatmul(pool.pool, buffers.matrices, Int32(quantizedCount), &activations)
        precondition(status == 0, "quantized matrix types are checked at load")
    }

    /// Writes cos and sin of every rotary pair's angle at `position` into row `row` of the rotary table.
    ///
    /// The angles follow ggml's CPU RoPE cache (llama.cpp commit 0c1e570): in
    /// Float, starting at the position and multiplied by `ropeThetaScale` per pair,
    /// so rotated queries and keys match llama.cpp to the bit.
    private func fillRotaryAngles(row: Int, position: Int) {
        let angles = buffers.rotary + row * config.headDim
        var theta = Float(position)
        for pair in 0..<config.headDim / 2 {
            angles[2 * pair] = cosf(theta)
            angles[2 * pair + 1] = sinf(theta)
            theta *= ropeThetaScale
        }
    }
}
