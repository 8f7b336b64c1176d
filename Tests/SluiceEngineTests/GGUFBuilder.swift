/// Writes small GGUF files (version 3 by default) for tests, including deliberately broken ones.
struct GGUFBuilder {
    enum Value {
        case uint32(UInt32)
        case int32(Int32)
        case float32(Float)
        case uint64(UInt64)
        case bool(Bool)
        case string(String)
        case array(elementType: UInt32, [Value])
        /// A value with an arbitrary type code and raw payload, for corrupt files.
        case raw(typeCode: UInt32, [UInt8])

        var typeCode: UInt32 {
            switch self {
            case .uint32: return 4
            case .int32: return 5
            case .float32: return 6
            case .uint64: return 10
            case .bool: return 7
            case .string: return 8
            case .array: return 9
            case .raw(let code, _): return code
            }
        }
    }

    struct Tensor {
        var name: String
        var dimensions: [UInt64]
        var typeCode: UInt32
        var data: [UInt8]
    }

    var version: UInt32 = 3
    var magic: [UInt8] = Array("GGUF".utf8)
    var alignment = 32
    var metadata: [(String, Value)] = []
    var tensors: [Tensor] = []

    /// Returns the file's bytes. Tensor offsets follow the data of earlier tensors, aligned.
    func build() -> [UInt8] {
        var bytes: [UInt8] = magic
        Self.append(version, to: &bytes)
        Self.append(UInt64(tensors.count), to: &bytes)
        Self.append(UInt64(metadata.count), to: &bytes)
        for (key, value) in metadata {
            Self.appendString(key, to: &bytes)
            Self.append(value.typeCode, to: &bytes)
            Self.appendPayload(value, to: &bytes)
        }

        var offsets: [UInt64] = []
        var dataSize = 0
        for tensor in tensors {
            offsets.append(UInt64(dataSize))
            dataSize += Self.padded(tensor.data.count, to: alignment)
        }
        for (tensor, offset) in zip(tensors, offsets) {
            Self.appendString(tensor.name, to: &bytes)
            Self.append(UInt32(tensor.dimensions.count), to: &bytes)
            for dimension in tensor.dimensions {
                Self.append(dimension, to: &bytes)
            }
            Self.append(tensor.typeCode, to: &bytes)
            Self.append(offset, to: &bytes)
        }

        bytes += [UInt8](repeating: 0, count: Self.padded(bytes.count, to: alignment) - bytes.count)
        for tensor in tensors {
            bytes += tensor.data
            bytes += [UInt8](repeating: 0, count: Self.padded(tensor.data.count, to: alignment) - tensor.data.count)
        }
        return bytes
    }

    static func padded(_ count: Int, to alignment: Int) -> Int {
        (count + alignment - 1) / alignment * alignment
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    static func appendString(_ string: String, to bytes: inout [UInt8]) {
        append(UInt64(string.utf8.count), to: &bytes)
        bytes += Array(string.utf8)
    }

    static func appendPayload(_ value: Value, to bytes: inout [UInt8]) {
        switch value {
        case .uint32(let number): append(number, to: &bytes)
        case .int32(let number): append(number, to: &bytes)
        case .float32(let number): append(number.bitPattern, to: &bytes)
        case .uint64(let number): append(number, to: &bytes)
        case .bool(let flag): bytes.append(flag ? 1 : 0)
        case .string(let string): appendString(string, to: &bytes)
        case .array(let elementType, let elements):
            append(elementType, to: &bytes)
            append(UInt64(elements.count), to: &bytes)
            for element in elements {
                appendPayload(element, to: &bytes)
            }
        case .raw(_, let payload): bytes += payload
        }
    }
}
