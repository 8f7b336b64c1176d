/// A byte-level BPE tokenizer, as GPT-2 defined it and llama.cpp runs it for `gpt2` GGUF vocabularies.
///
/// Encoding runs in three steps. It cuts special tokens (`<|im_start|>`,
/// `<|im_end|>` and other control or user-defined tokens) out of the raw text.
/// It splits each piece between them into words with the model's
/// pre-tokenizer. Then it merges the bytes of each word by merge rank. The
/// result matches llama.cpp's `llama_tokenize` with `add_special = false` and
/// `parse_special = true`.
///
/// The tokenizer is immutable after `init` and safe to share between threads.
public struct BPETokenizer: Sendable {
    /// The kind of a vocabulary entry, with the codes of `tokenizer.ggml.token_type`.
    public enum TokenType: Int, Sendable {
        case normal = 1
        case unknown = 2
        /// A control token such as `<|im_start|>`: matched in raw text, decoded to nothing.
        case control = 3
        /// A token added to the vocabulary whose text is matched in raw text and decoded as it is.
        case userDefined = 4
        case unused = 5
        /// A byte token of a SentencePiece vocabulary (`<0x0A>`).
        case byte = 6
    }

    /// A token matched in raw text before pre-tokenization.
    struct SpecialToken: Sendable {
        var id: Int32
        var bytes: [UInt8]
        var type: TokenType
    }

    /// The number of tokens in the vocabulary; valid ids are `0..<vocabularySize`.
    public let vocabularySize: Int
    /// The beginning-of-sequence token, from `tokenizer.ggml.bos_token_id`.
    public let bosTokenID: Int32?
    /// The end-of-sequence token, from `tokenizer.ggml.eos_token_id`.
    public let eosTokenID: Int32?
    /// The tokens that end generation: the end-of-sequence token, the declared
    /// end-of-turn tokens, and the control tokens whose text is a known
    /// end-of-turn marker such as `<|im_end|>` or `<|endoftext|>`.
    public let endOfSequenceTokenIDs: Set<Int32>
    /// Whether the model expects the BOS token before a prompt (`tokenizer.ggml.add_bos_token`).
    /// `encode` never adds it, so callers that need it prepend `bosTokenID`.
    public let addsBOSToken: Bool

    let preTokenizer: PreTokenizer
    let tokenTexts: [String]
    let tokenTypes: [TokenType]
    /// The bytes each token decodes to; empty for control, unknown, unused and byte tokens.
    let tokenBytes: [[UInt8]]
    let idsByText: [String: Int32]
    /// The token of each single byte, or `BPEMerger.noToken` where the vocabulary has none.
    let byteTokens: [Int32]
    let merges: MergeTable
    /// The special tokens, longest first.
    let specialTokens: [SpecialToken]
    /// Whether any special token starts with the byte, to skip the search for text that cannot contain one.
    let specialLeadBytes: [Bool]

    /// The control-token texts that end a turn in common chat formats.
    static let endOfTurnTexts: Set<String> = [
        "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>",
        "<|end_of_text|>", "<EOT>", "</s>",
    ]

    /// Builds a tokenizer from a vocabulary in GGUF's `gpt2` layout.
    ///
    /// - Parameters:
    ///   - tokens: The vocabulary, indexed by token id. Normal tokens are in the
    ///     byte-level alphabet (`Ġthe` for " the"); special tokens are literal text.
    ///   - tokenTypes: The type of each token; empty means every token is `.normal`.
    ///   - merges: The merge rules, highest priority first, each as the two parts separated by one space (`Ġ t`).
    ///   - preTokenizer: The `tokenizer.ggml.pre` name, such as `smollm`; nil selects plain GPT-2 splitting.
    ///   - bosTokenID: The beginning-of-sequence token.
    ///   - eosTokenID: The end-of-sequence token.
    ///   - endOfTurnTokenIDs: More tokens that end generation (`tokenizer.ggml.eot_token_id`, `eom_token_id`).
    ///   - addsBOSToken: Whether prompts should start with `bosTokenID`.
    /// - Throws: `TokenizerError` when the pre-tokenizer is unknown or the vocabulary is inconsistent.
    public init(
        tokens: [String],
        tokenTypes: [TokenType] = [],
        merges: [String],
        preTokenizer: String?,
        bosTokenID: Int32? = nil,
        eosTokenID: Int32? = nil,
        endOfTurnTokenIDs: [Int32] = [],
        addsBOSToken: Bool = false
    ) throws(TokenizerError) {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
            throw .invalidVocabulary("the vocabulary has \(tokens.count) tokens")
        }
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw .invalidVocabulary("\(tokenTypes.count) token types for \(tokens.count) tokens")
        }
        guard let rule = PreTokenizer(name: preTokenizer) else {
            throw .unsupportedPreTokenizer(preTokenizer ?? "")
        }
        for (name, id) in [("BOS", bosTokenID), ("EOS", eosTokenID)] + endOfTurnTokenIDs.map({ ("end-of-turn", $0) }) {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw .invalidVocabulary("\(name) token id \(id) is outside the vocabulary of \(tokens.count) tokens")
            }
        }

        let types = tokenTypes.isEmpty ? [TokenType](repeating: .normal, count: tokens.count) : tokenTypes
        self.vocabularySize = tokens.count
        self.preTokenizer = rule
        self.tokenTexts = tokens
        self.tokenTypes = types
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.addsBOSToken = addsBOSToken

        var idsByText: [String: Int32] = [:]
        idsByText.reserveCapacity(tokens.count)
        for (id, text) in tokens.enumerated() where idsByText[text] == nil {
            // The first of duplicate entries wins, as in llama.cpp.
            idsByText[text] = Int32(id)
        }
        self.idsByText = idsByText

        self.tokenBytes = zip(tokens, types).map { text, type in Self.decodedBytes(of: text, type: type) }
        self.byteTokens = ByteLevelAlphabet.symbols.map { symbol in
            idsByText[String(symbol)] ?? BPEMerger.noToken
        }
        self.merges = try Self.buildMergeTable(merges, idsByText: idsByText)

        var specialTokens: [SpecialToken] = []
        var endOfSequence = Set(endOfTurnTokenIDs)
        if let eosTokenID {
            endOfSequence.insert(eosTokenID)
        }
        for (id, type) in types.enumerated() where type == .control || type == .userDefined || type == .unknown {
            let text = tokens[id]
            guard !text.isEmpty else { continue }
            specialTokens.append(SpecialToken(id: Int32(id), bytes: Array(text.utf8), type: type))
            if type == .control && Self.endOfTurnTexts.contains(text) {
                endOfSequence.insert(Int32(id))
            }
        }
        // Longest first, so that a special token that contains another shorter
        // one wins; ties go to the lower id so the order is deterministic.
        specialTokens.sort { ($0.bytes.count, -$0.id) > ($1.bytes.count, -$1.id) }
        self.specialTokens = specialTokens
        self.endOfSequenceTokenIDs = endOfSequence

        var leadBytes = [Bool](repeating: false, count: 256)
        for token in specialTokens {
            leadBytes[Int(token.bytes[0])] = true
        }
        self.specialLeadBytes = leadBytes
    }

    /// Returns the id of the vocabulary entry with exactly this text, or nil when there is none.
    ///
    /// Normal tokens are spelled in the byte-level alphabet, so " the" is `Ġthe`;
    /// special tokens such as `<|im_end|>` are spelled as they are.
    public func tokenID(of token: String) -> Int32? {
        idsByText[token]
    }

    /// Returns a token's vocabulary text, or nil for an id outside the vocabulary.
    public func tokenText(_ id: Int32) -> String? {
        guard id >= 0, Int(id) < vocabularySize else { return nil }
        return tokenTexts[Int(id)]
    }

    /// Returns a token's type, or nil for an id outside the vocabulary.
    public func tokenType(_ id: Int32) -> TokenType? {
        guard id >= 0, Int(id) < vocabularySize else { return nil }
        return tokenTypes[Int(id)]
    }

    /// Returns whether the token is special: a control, user-defined or unknown
    /// token, which encoding matches in raw text and not through merges.
    public func isSpecial(_ id: Int32) -> Bool {
        guard let type = tokenType(id) else { return false }
        return type == .control || type == .userDefined || type == .unknown
    }

    /// Returns the raw bytes of one token.
    ///
    /// A token may hold part of a UTF-8 character, so the bytes of consecutive
    /// tokens must be joined before they are read as text. Control, unknown,
    /// unused and byte tokens, and ids outside the vocabulary, decode to no bytes.
    /// User-defined tokens decode to their text.
    public func decodeBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < vocabularySize else { return [] }
        return tokenBytes[Int(id)]
    }

    /// Decodes tokens to text, replacing bytes that are not valid UTF-8 with U+FFFD.
    ///
    /// Tokens without bytes (see `decodeBytes(_:)`) add nothing, so
    /// `decode(encode(text)) == text` for text without special tokens.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            bytes.append(contentsOf: decodeBytes(id))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Returns the bytes a token's text stands for.
    ///
    /// Normal tokens are spelled in the byte-level alphabet. A scalar outside the
    /// alphabet (possible in hand-edited vocabularies) decodes to its own UTF-8.
    private static func decodedBytes(of text: String, type: TokenType) -> [UInt8] {
        switch type {
        case .normal:
            var bytes: [UInt8] = []
            for scalar in text.unicodeScalars {
                if let byte = ByteLevelAlphabet.byte(for: scalar) {
                    bytes.append(byte)
                } else {
                    bytes.append(contentsOf: String(scalar).utf8)
                }
            }
            return bytes
        case .userDefined:
            return Array(text.utf8)
        case .control, .unknown, .unused, .byte:
            return []
        }
    }

    private static func buildMergeTable(_ rules: [String], idsByText: [String: Int32]) throws(TokenizerError) -> MergeTable {
        var table = MergeTable(capacity: rules.count)
        for (rank, rule) in rules.enumerated() {
            // The parts are in the byte-level alphabet, which has no space, so the
            // first space separates them. The search starts after the first byte,
            // as llama.cpp's does, so that a left part of " " still parses.
            let utf8 = rule.utf8
            guard !utf8.isEmpty,
                let separator = utf8[utf8.index(after: utf8.startIndex)...].firstIndex(of: UInt8(ascii: " "))
            else {
                throw .invalidVocabulary("merge rule \(rank) '\(rule)' has no space between its two parts")
            }
            let left = String(rule[..<separator])
            let right = String(rule[rule.index(after: separator)...])
            guard let leftID = idsByText[left], let rightID = idsByText[right],
                let resultID = idsByText[left + right]
            else {
                // NOTE: llama.cpp applies such a rule to the text and falls back to
                // byte tokens for a result outside the vocabulary. This tokenizer
                // skips the rule instead; the SmolLM2 vocabulary has none.
                continue
            }
            table.insert(left: leftID, right: rightID, merge: MergeTable.Merge(rank: Int32(rank), result: resultID))
        }
        return table
    }
}
