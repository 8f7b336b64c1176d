extension BPETokenizer {
    /// Builds the tokenizer a GGUF file declares under `tokenizer.ggml.*`.
    ///
    /// - Throws: `TokenizerError` when the tokenizer model is not `gpt2`, the
    ///   pre-tokenizer is unknown, or a key is missing or malformed.
    public init(gguf file: GGUFFile) throws(TokenizerError) {
        let metadata = file.metadata

        let model = metadata["tokenizer.ggml.model"]?.string
        guard let model else {
            throw .missingMetadata(key: "tokenizer.ggml.model")
        }
        guard model == "gpt2" else {
            throw .unsupportedModel(model)
        }
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.strings else {
            throw .missingMetadata(key: "tokenizer.ggml.tokens")
        }
        guard let merges = metadata["tokenizer.ggml.merges"]?.strings else {
            throw .missingMetadata(key: "tokenizer.ggml.merges")
        }

        var types: [TokenType] = []
        if let typeCodes = metadata["tokenizer.ggml.token_type"]?.integers {
            types.reserveCapacity(typeCodes.count)
            for (id, code) in typeCodes.enumerated() {
                // Code 0 is llama.cpp's "undefined" type, which behaves as normal.
                guard let type = code == 0 ? .normal : TokenType(rawValue: code) else {
                    throw .invalidVocabulary("token \(id) has type \(code); valid types are 0 to 6")
                }
                types.append(type)
            }
        } else if metadata["tokenizer.ggml.token_type"] != nil {
            throw .missingMetadata(key: "tokenizer.ggml.token_type")
        }

        func tokenID(_ key: String) throws(TokenizerError) -> Int32? {
            guard let value = metadata[key] else { return nil }
            guard let id = value.integer, let id32 = Int32(exactly: id) else {
                throw .invalidVocabulary("'\(key)' is not a token id")
            }
            return id32
        }

        let endOfTurn = [try tokenID("tokenizer.ggml.eot_token_id"), try tokenID("tokenizer.ggml.eom_token_id")]
        let addsBOS: Bool
        if case .bool(let flag) = metadata["tokenizer.ggml.add_bos_token"] {
            addsBOS = flag
        } else {
            addsBOS = false
        }

        try self.init(
            tokens: tokens,
            tokenTypes: types,
            merges: merges,
            preTokenizer: metadata["tokenizer.ggml.pre"]?.string,
            bosTokenID: try tokenID("tokenizer.ggml.bos_token_id"),
            eosTokenID: try tokenID("tokenizer.ggml.eos_token_id"),
            endOfTurnTokenIDs: endOfTurn.compactMap { $0 },
            addsBOSToken: addsBOS
        )
    }
}
