/// The hyperparameters of a llama-family model, read from GGUF metadata.
public struct LlamaConfig: Sendable, Equatable {
    /// The value of `general.architecture`, which prefixes the other keys.
    public var architecture: String
    /// Transformer blocks (`<arch>.block_count`).
    public var layers: Int
    /// Query heads (`<arch>.attention.head_count`).
    public var heads: Int
    /// Key and value heads (`<arch>.attention.head_count_kv`); fewer than `heads` means grouped-query attention.
    public var kvHeads: Int
    /// Width of the residual stream (`<arch>.embedding_length`).
    public var hidden: Int
    /// Width of the feed-forward layer (`<arch>.feed_forward_length`).
    public var ffn: Int
    /// Tokens in the vocabulary: the rows of `token_embd.weight`.
    public var vocab: Int
    /// The context window the model was trained for (`<arch>.context_length`).
    public var contextLength: Int
    /// RoPE base frequency (`<arch>.rope.freq_base`, default 10000).
    public var ropeTheta: Double
    /// RMSNorm epsilon (`<arch>.attention.layer_norm_rms_epsilon`).
    public var rmsEps: Float

    /// Width of one attention head.
    public var headDim: Int { hidden / heads }
    /// Width of the key or value vectors of all KV heads together.
    public var kvDim: Int { kvHeads * headDim }

    /// Architectures whose GGUF files use the llama layout and metadata keys.
    static let supportedArchitectures: Set<String> = ["llama"]

    /// Reads the hyperparameters from a GGUF file's metadata and checks that the engine can run them.
    ///
    /// - Throws: `EngineError` naming the missing or unsupported key.
    public init(file: GGUFFile) throws(EngineError) {
        let metadata = file.metadata
        guard let architecture = metadata["general.architecture"]?.string else {
            throw .missingMetadata(key: "general.architecture")
        }
        guard Self.supportedArchitectures.contains(architecture) else {
            throw .unsupportedArchitecture(architecture)
        }

        func integer(_ suffix: String) throws(EngineError) -> Int {
            let key = "\(architecture).\(suffix)"
            guard let value = metadata[key]?.integer else { throw .missingMetadata(key: key) }
            guard value > 0 else { throw .invalidMetadata(key: key, reason: "\(value) is not positive") }
            return value
        }

        self.architecture = architecture
        self.layers = try integer("block_count")
        self.hidden = try integer("embedding_length")
        self.ffn = try integer("feed_forward_length")
        self.heads = try integer("attention.head_count")
        self.kvHeads = metadata["\(architecture).attention.head_count_kv"] == nil
            ? heads : try integer("attention.head_count_kv")
        self.contextLength = try integer("context_length")
        self.ropeTheta = metadata["\(architecture).rope.freq_base"]?.float ?? 10_000

        let epsilonKey = "\(architecture).attention.layer_norm_rms_epsilon"
        guard let epsilon = metadata[epsilonKey]?.float else { throw .missingMetadata(key: epsilonKey) }
        self.rmsEps = Float(epsilon)

        guard let embedding = file.tensor(named: "token_embd.weight") else {
            throw .missingTensor("token_embd.weight")
        }
        guard embedding.dimensions.count == 2 else {
            throw .tensorShapeMismatch(tensor: "token_embd.weight", expected: [hidden, -1], found: embedding.dimensions)
        }
        self.vocab = embedding.dimensions[1]

        try validate(metadata: metadata)
    }

    private func validate(metadata: [String: GGUFValue]) throws(EngineError) {
        let prefix = architecture
        guard hidden % heads == 0 else {
            throw .invalidMetadata(key: "\(prefix).attention.head_count",
                                   reason: "\(heads) heads do not divide the embedding length \(hidden)")
        }
        guard heads % kvHeads == 0 else {
            throw .invalidMetadata(key: "\(prefix).attention.head_count_kv",
                                   reason: "\(kvHeads) KV heads do not divide the \(heads) query heads")
        }
        guard headDim % 2 == 0 else {
            throw .invalidMetadata(key: "\(prefix).attention.head_count", reason: "the head width \(headDim) is odd")
        }

        // Activations are quantized in blocks of 32 before every matrix multiplication.
        guard hidden % 32 == 0, ffn % 32 == 0 else {
            throw .invalidMetadata(key: "\(prefix).embedding_length",
                                   reason: "embedding length \(hidden) and feed-forward length \(ffn) must be multiples of 32")
        }

        if let ropeDimensions = metadata["\(prefix).rope.dimension_count"]?.integer, ropeDimensions != headDim {
            throw .invalidMetadata(key: "\(prefix).rope.dimension_count",
                                   reason: "RoPE over \(ropeDimensions) of \(headDim) head dimensions is not supported")
        }
        for suffix in ["attention.key_length", "attention.value_length"] {
            if let length = metadata["\(prefix).\(suffix)"]?.integer, length != headDim {
                throw .invalidMetadata(key: "\(prefix).\(suffix)",
                                       reason: "\(length) differs from embedding length / head count = \(headDim)")
            }
        }
        if let scaling = metadata["\(prefix).rope.scaling.type"]?.string, scaling != "none" {
            throw .invalidMetadata(key: "\(prefix).rope.scaling.type", reason: "RoPE scaling '\(scaling)' is not supported")
        }

        if let vocabularySize = metadata["\(prefix).vocab_size"]?.integer, vocabularySize != vocab {
            throw .invalidMetadata(key: "\(prefix).vocab_size",
                                   reason: "\(vocabularySize) differs from the \(vocab) rows of token_embd.weight")
        }
        guard ropeTheta > 0 else {
            throw .invalidMetadata(key: "\(prefix).rope.freq_base", reason: "\(ropeTheta) is not positive")
        }
        guard rmsEps >= 0 else {
            throw .invalidMetadata(key: "\(prefix).attention.layer_norm_rms_epsilon", reason: "\(rmsEps) is negative")
        }
    }
}
