/// An error that stops a tokenizer from being built from a model's vocabulary.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A metadata key the tokenizer needs is absent or has the wrong type.
    case missingMetadata(key: String)
    /// The file declares a tokenizer model other than byte-level BPE (`gpt2`).
    case unsupportedModel(String)
    /// The file declares a pre-tokenizer this tokenizer does not implement.
    case unsupportedPreTokenizer(String)
    /// A vocabulary entry, merge rule or special token id is malformed.
    case invalidVocabulary(String)

    public var description: String {
        switch self {
        case .missingMetadata(let key):
            return "tokenizer metadata '\(key)' is missing or has the wrong type"
        case .unsupportedModel(let name):
            return "unsupported tokenizer model '\(name)': only byte-level BPE ('gpt2') is implemented"
        case .unsupportedPreTokenizer(let name):
            return "unsupported pre-tokenizer '\(name)': implemented are \(PreTokenizer.supportedNames.joined(separator: ", "))"
        case .invalidVocabulary(let reason):
            return "invalid tokenizer vocabulary: \(reason)"
        }
    }
}
