import CKernels

/// The weights of a llama-family model, loaded from a GGUF file and shared read-only by engines.
///
/// `@unchecked Sendable` is safe because every property is a `let` set during
/// `init`, and the memory they point to (the read-only file mapping and the
/// converted F32 copies) is never written after `init` returns.
public final class LlamaModel: @unchecked Sendable {
    /// The weights of one transformer block.
    struct Layer {
        var attentionNorm: UnsafePointer<Float>
        var query: WeightMatrix
        var key: WeightMatrix
        var value: WeightMatrix
        var attentionOutput: WeightMatrix
        var feedForwardNorm: UnsafePointer<Float>
        var gate: WeightMatrix
        var up: WeightMatrix
        var down: WeightMatrix
    }

    /// The model's hyperparameters.
    public let config: LlamaConfig
    /// The file the weights are mapped from; kept open for the model's lifetime.
    public let file: GGUFFile

    /// The embedding table as stored: one row of `hidden` values per token.
    let embedding: GGUFTensorInfo
    let layers: [Layer]
    let outputNorm: UnsafePointer<Float>
    /// The output projection: `output.weight`, or the embedding table when the file ties them.
    let output: WeightMatrix
    private let ownedBuffers: OwnedBuffers

    /// Loads the weights of the model in `file`, checking every tensor's presence, shape and type.
    ///
    /// - Throws: `EngineError` naming the tensor or metadata key that is missing or unsupported.
    public init(file: GGUFFile) throws(EngineError) {
        let config = try LlamaConfig(file: file)
        let buffers = OwnedBuffers()
        let loader = WeightLoader(file: file, buffers: buffers)

        let embedding = try loader.tensor("token_embd.weight", dimensions: [config.hidden, config.vocab])
        guard WeightMatrix.quantizedTypes.contains(embedding.type) || WeightMatrix.floatTypes.contains(embedding.type)
        else {
            throw .unsupportedTensorType(tensor: embedding.name, type: embedding.type)
        }

        var layers: [Layer] = []
        for index in 0..<config.layers {
            let prefix = "blk.\(index)."
            layers.append(
                Layer(
                    attentionNorm: try loader.vector(prefix + "attn_norm.weight", count: config.hidden),
                    query: try loader.matrix(prefix + "attn_q.weight", rows: config.hidden, columns: config.hidden),
                    key: try loader.matrix(prefix + "attn_k.weight", rows: config.kvDim, columns: config.hidden),
                    value: try loader.matrix(prefix + "attn_v.weight", rows: config.kvDim, columns: config.hidden),
                    attentionOutput: try loader.matrix(
                        prefix + "attn_output.weight", rows: config.hidden, columns: config.hidden),
                    feedForwardNorm: try loader.vector(prefix + "ffn_norm.weight", count: config.hidden),
                    gate: try loader.matrix(prefix + "ffn_gate.weight", rows: config.ffn, columns: config.hidden),
                    up: try loader.matrix(prefix + "ffn_up.weight", rows: config.ffn, columns: config.hidden),
                    down: try loader.matrix(prefix + "ffn_down.weight", rows: config.hidden, columns: config.ffn)))
        }

        let outputName = file.tensor(named: "output.weight") == nil ? "token_embd.weight" : "output.weight"
        let output = try loader.matrix(outputName, rows: config.vocab, columns: config.hidden)

        for name in ["rope_freqs.weight", "blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"]
        where file.tensor(named: name) != nil {
            throw .invalidMetadata(key: name, reason: "tensor present, but the engine does not implement it")
        }

        self.config = config
        self.file = file
        self.embedding = embedding
        self.layers = layers
        self.outputNorm = try loader.vector("output_norm.weight", count: config.hidden)
        self.output = output
        self.ownedBuffers = buffers
    }

    /// Opens a GGUF file and loads its model.
    ///
    /// - Throws: `GGUFError` when the file cannot be parsed, `EngineError` when the model is unsupported.
    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    /// Writes the embedding of `token` (`config.hidden` floats) to `destination`.
    func embed(token: Int32, into destination: UnsafeMutablePointer<Float>) {
        let data = file.data(of: embedding)
        let rowBytes = data.count / config.vocab
        let row = data.baseAddress! + Int(token) * rowBytes
        let status = sk_dequantize_row(embedding.type.kernelType, row, destination, config.hidden)
        precondition(status == 0, "embedding type \(embedding.type) was checked at load")
    }
}

/// Looks up tensors for `LlamaModel`, checking shapes and types.
private struct WeightLoader {
    let file: GGUFFile
    let buffers: OwnedBuffers

    func tensor(_ name: String, dimensions: [Int]) throws(EngineError) -> GGUFTensorInfo {
        guard let tensor = file.tensor(named: name) else { throw .missingTensor(name) }
        guard tensor.dimensions == dimensions else {
            throw .tensorShapeMismatch(tensor: name, expected: dimensions, found: tensor.dimensions)
        }
        return tensor
    }

    /// Returns a weight matrix; GGUF stores it as `[columns, rows]`, the input features innermost.
    func matrix(_ name: String, rows: Int, columns: Int) throws(EngineError) -> WeightMatrix {
        let tensor = try tensor(name, dimensions: [columns, rows])
        let data = file.data(of: tensor)

        if WeightMatrix.quantizedTypes.contains(tensor.type) {
            let storage = WeightMatrix.Storage.quantized(
                type: tensor.type, rowBytes: data.count / rows, base: data.baseAddress!)
            return WeightMatrix(name: name, rows: rows, columns: columns, storage: storage)
        }
        guard WeightMatrix.floatTypes.contains(tensor.type) else {
            throw .unsupportedTensorType(tensor: name, type: tensor.type)
        }
        let values = try floats(of: tensor, data: data)
        return WeightMatrix(name: name, rows: rows, columns: columns, storage: .float(values))
    }

    /// Returns a vector as F32, converting F16 and BF16.
    func vector(_ name: String, count: Int) throws(EngineError) -> UnsafePointer<Float> {
        let tensor = try tensor(name, dimensions: [count])
        guard WeightMatrix.floatTypes.contains(tensor.type) else {
            throw .unsupportedTensorType(tensor: name, type: tensor.type)
        }
        return try floats(of: tensor, data: file.data(of: tensor))
    }

    private func floats(of tensor: GGUFTensorInfo, data: UnsafeRawBufferPointer) throws(EngineError)
        -> UnsafePointer<Float>
    {
        // F32 data is used in place when the mapping keeps it 4-byte aligned, which GGUF's alignment guarantees.
        if tensor.type == .f32, Int(bitPattern: data.baseAddress!) % MemoryLayout<Float>.alignment == 0 {
            return data.baseAddress!.assumingMemoryBound(to: Float.self)
        }
        let buffer = buffers.allocate(tensor.elementCount)
        guard sk_dequantize_row(tensor.type.kernelType, data.baseAddress!, buffer, tensor.elementCount) == 0 else {
            throw .unsupportedTensorType(tensor: tensor.name, type: tensor.type)
        }
        return UnsafePointer(buffer)
    }
}
