/// An error from opening or parsing a GGUF file.
public enum GGUFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened, inspected or mapped; `reason` is the system's message.
    case cannotOpen(path: String, reason: String)
    /// The file does not start with the bytes `GGUF`.
    case badMagic(found: UInt32)
    /// The format version is not one this reader supports (2 and 3).
    case unsupportedVersion(UInt32)
    /// Reading `what` needed `needed` bytes at `offset`, past the end of the file.
    case truncated(what: String, offset: Int, needed: Int, fileSize: Int)
    /// A metadata value has a type code that GGUF does not define.
    case unknownValueType(key: String, code: UInt32)
    /// A metadata entry is malformed: a duplicate key, a bad alignment, nesting too deep.
    case invalidMetadata(key: String, reason: String)
    /// A tensor entry is malformed: a duplicate name, bad dimensions, an unknown type, a bad offset.
    case invalidTensor(name: String, reason: String)
    /// A tensor's data runs past the end of the file.
    case tensorDataOutOfBounds(name: String, start: Int, end: Int, fileSize: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open GGUF file \(path): \(reason)"
        case .badMagic(let found):
            let hex = String(found, radix: 16)
            return "not a GGUF file: the first four bytes are 0x\(hex), expected the magic \"GGUF\""
        case .unsupportedVersion(let version):
            return "unsupported GGUF version \(version); this reader supports versions 2 and 3"
        case .truncated(let what, let offset, let needed, let fileSize):
            return "GGUF file is truncated or corrupt: \(what) needs \(needed) bytes at offset \(offset), "
                + "but the file has \(fileSize) bytes"
        case .unknownValueType(let key, let code):
            return "GGUF metadata '\(key)' has unknown value type \(code)"
        case .invalidMetadata(let key, let reason):
            return "invalid GGUF metadata '\(key)': \(reason)"
        case .invalidTensor(let name, let reason):
            return "invalid GGUF tensor '\(name)': \(reason)"
        case .tensorDataOutOfBounds(let name, let start, let end, let fileSize):
            return "GGUF tensor '\(name)' data spans bytes \(start)..<\(end), past the end of the file "
                + "(\(fileSize) bytes); the file is truncated or corrupt"
        }
    }
}
