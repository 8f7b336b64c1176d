/// An error from loading a model into the engine or from running a step.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file's `general.architecture` is not one the engine implements.
    case unsupportedArchitecture(String)
    /// A required metadata key is missing or has the wrong type.
    case missingMetadata(key: String)
    /// A metadata value is outside what the engine supports.
    case invalidMetadata(key: String, reason: String)
    /// A required tensor is not in the file.
    case missingTensor(String)
    /// A tensor's shape does not match the hyperparameters.
    case tensorShapeMismatch(tensor: String, expected: [Int], found: [Int])
    /// A tensor is stored in a type the engine cannot compute with.
    case unsupportedTensorType(tensor: String, type: GGMLType)
    /// The engine options are invalid.
    case invalidOptions(String)
    /// An admission was rejected; nothing in the step ran.
    case invalidAdmission(sequence: UInt64, reason: String)
    /// The prompt plus the new tokens would not fit the model's context window.
    case contextLengthExceeded(sequence: UInt64, tokens: Int, contextLength: Int)
    /// Admitting would reserve more KV cache tokens than the budget allows.
    case kvBudgetExceeded(sequence: UInt64, requested: Int, available: Int)
    /// Admitting would run more sequences than `maxBatchSize`.
    case batchFull(sequence: UInt64, maxBatchSize: Int)
    /// A running sequence already produced its `maxNewTokens` and must be released.
    case sequenceFinished(sequence: UInt64, maxNewTokens: Int)
    /// Memory for the KV cache or the thread pool could not be allocated.
    case outOfMemory(String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let name):
            return "unsupported model architecture '\(name)'; the engine runs llama-family models"
        case .missingMetadata(let key):
            return "model metadata '\(key)' is missing or has the wrong type"
        case .invalidMetadata(let key, let reason):
            return "invalid model metadata '\(key)': \(reason)"
        case .missingTensor(let name):
            return "model tensor '\(name)' is missing"
        case .tensorShapeMismatch(let tensor, let expected, let found):
            return "model tensor '\(tensor)' has shape \(found), expected \(expected)"
        case .unsupportedTensorType(let tensor, let type):
            return "model tensor '\(tensor)' has type \(type), which the engine does not support "
                + "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)"
        case .invalidOptions(let reason):
            return "invalid engine options: \(reason)"
        case .invalidAdmission(let sequence, let reason):
            return "cannot admit sequence \(sequence): \(reason)"
        case .contextLengthExceeded(let sequence, let tokens, let contextLength):
            return "sequence \(sequence) needs \(tokens) tokens (prompt plus max new tokens), "
                + "more than the model's context length \(contextLength)"
        case .kvBudgetExceeded(let sequence, let requested, let available):
            return "sequence \(sequence) needs \(requested) KV cache tokens but only \(available) of the budget are free"
        case .batchFull(let sequence, let maxBatchSize):
            return "cannot admit sequence \(sequence): \(maxBatchSize) sequences are already running (maxBatchSize)"
        case .sequenceFinished(let sequence, let maxNewTokens):
            return "sequence \(sequence) already produced its \(maxNewTokens) new tokens; release it"
        case .outOfMemory(let what):
            return "out of memory: \(what)"
        }
    }
}
