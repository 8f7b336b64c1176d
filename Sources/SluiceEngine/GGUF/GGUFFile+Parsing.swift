extension GGUFFile {
    /// The parsed header of a file: everything before the data section.
    struct Header {
        var version: UInt32
        var metadata: [String: GGUFValue]
        var tensors: [GGUFTensorInfo]
        var tensorIndex: [String: Int]
        var alignment: Int
        var dataOffset: Int
    }

    /// The little-endian value of the bytes "GGUF".
    static let magic: UInt32 = 0x4655_4747

    static func parse(base: UnsafeRawPointer, size: Int) throws(GGUFError) -> Header {
        var reader = GGUFByteReader(base: base, size: size)

        let magic = try reader.read(UInt32.self, for: "magic")
        guard magic == Self.magic else {
            throw .badMagic(found: magic)
        }
        let version = try reader.read(UInt32.self, for: "version")
        guard version == 2 || version == 3 else {
            throw .unsupportedVersion(version)
        }
        let tensorCount = try reader.readCount(for: "tensor count")
        let metadataCount = try reader.readCount(for: "metadata count")

        // Every entry takes at least 12 bytes (an 8-byte key length and a 4-byte type).
        // A larger count than the remaining bytes allow is corrupt, and checking it first avoids a huge reservation.
        try reader.require(metadataCount.multipliedReportingOverflow(by: 12).overflow ? -1 : metadataCount * 12,
                           for: "\(metadataCount) metadata entries")
        var metadata: [String: GGUFValue] = [:]
        metadata.reserveCapacity(metadataCount)
        for index in 0..<metadataCount {
            let key = try reader.readString(for: "key of metadata entry \(index)")
            let typeCode = try reader.read(UInt32.self, for: "value type of metadata '\(key)'")
            let value = try readValue(typeCode: typeCode, key: key, depth: 0, reader: &reader)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw .invalidMetadata(key: key, reason: "the key appears more than once")
            }
        }

        let alignment = try readAlignment(metadata)

        // A tensor info takes at least 24 bytes: name length, dimension count, type and offset.
        try reader.require(tensorCount.multipliedReportingOverflow(by: 24).overflow ? -1 : tensorCount * 24,
                           for: "\(tensorCount) tensor infos")
        var tensors: [GGUFTensorInfo] = []
        var tensorIndex: [String: Int] = [:]
        tensors.reserveCapacity(tensorCount)
        tensorIndex.reserveCapacity(tensorCount)
        for index in 0..<tensorCount {
            let tensor = try readTensorInfo(index: index, alignment: alignment, reader: &reader)
            guard tensorIndex.updateValue(tensors.count, forKey: tensor.name) == nil else {
                throw .invalidTensor(name: tensor.name, reason: "the name appears more than once")
            }
            tensors.append(tensor)
        }

        reader.align(to: alignment)
        let dataOffset = reader.offset
        for tensor in tensors {
            let start = dataOffset + tensor.offset
            let (end, overflow) = start.addingReportingOverflow(tensor.byteCount)
            guard !overflow, end <= size else {
                throw .tensorDataOutOfBounds(name: tensor.name, start: start, end: overflow ? Int.max : end,
                                             fileSize: size)
            }
        }

        return Header(
            version: version, metadata: metadata, tensors: tensors, tensorIndex: tensorIndex,
            alignment: alignment, dataOffset: dataOffset)
    }

    private static func readAlignment(_ metadata: [String: GGUFValue]) throws(GGUFError) -> Int {
        guard let value = metadata["general.alignment"] else {
            return defaultAlignment
        }
        guard let alignment = value.integer, alignment > 0, alignment & (alignment - 1) == 0 else {
            throw .invalidMetadata(key: "general.alignment", reason: "\(value) is not a positive power of two")
        }
        return alignment
    }

    private static func readTensorInfo(
        index: Int, alignment: Int, reader: inout GGUFByteReader
    ) throws(GGUFError) -> GGUFTensorInfo {
        let name = try reader.readString(for: "name of tensor \(index)")
        let dimensionCount = try reader.read(UInt32.self, for: "dimension count of tensor '\(name)'")
        // ggml tensors have at most 4 dimensions.
        guard (1...4).contains(dimensionCount) else {
            throw .invalidTensor(name: name, reason: "\(dimensionCount) dimensions; expected 1 to 4")
        }

        var dimensions: [Int] = []
        var elementCount = 1
        for _ in 0..<dimensionCount {
            let dimension = try reader.readCount(for: "dimensions of tensor '\(name)'")
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw .invalidTensor(name: name, reason: "the element count overflows")
            }
            dimensions.append(dimension)
            elementCount = product
        }

        let type = GGMLType(rawValue: try reader.read(UInt32.self, for: "type of tensor '\(name)'"))
        guard let blockSize = type.blockSize, let blockBytes = type.blockBytes else {
            throw .invalidTensor(name: name, reason: "unknown tensor type \(type.rawValue)")
        }
        guard dimensions[0] % blockSize == 0 else {
            throw .invalidTensor(
                name: name, reason: "first dimension \(dimensions[0]) is not a multiple of the \(type) block size \(blockSize)")
        }
        guard !(elementCount / blockSize).multipliedReportingOverflow(by: blockBytes).overflow else {
            throw .invalidTensor(name: name, reason: "the byte count overflows")
        }

        let offset = try reader.readCount(for: "data offset of tensor '\(name)'")
        guard offset % alignment == 0 else {
            throw .invalidTensor(name: name, reason: "data offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        return GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: offset)
    }

    /// Reads one metadata value of the given type code.
    private static func readValue(
        typeCode: UInt32, key: String, depth: Int, reader: inout GGUFByteReader
    ) throws(GGUFError) -> GGUFValue {
        switch typeCode {
        case 0: return .uint8(try reader.read(UInt8.self, for: "value of '\(key)'"))
        case 1: return .int8(try reader.read(Int8.self, for: "value of '\(key)'"))
        case 2: return .uint16(try reader.read(UInt16.self, for: "value of '\(key)'"))
        case 3: return .int16(try reader.read(Int16.self, for: "value of '\(key)'"))
        case 4: return .uint32(try reader.read(UInt32.self, for: "value of '\(key)'"))
        case 5: return .int32(try reader.read(Int32.self, for: "value of '\(key)'"))
        case 6: return .float32(Float(bitPattern: try reader.read(UInt32.self, for: "value of '\(key)'")))
        case 7:
            let byte = try reader.read(UInt8.self, for: "value of '\(key)'")
            guard byte <= 1 else {
                throw .invalidMetadata(key: key, reason: "boolean byte is \(byte), expected 0 or 1")
            }
            return .bool(byte == 1)
        case 8: return .string(try reader.readString(for: "string value of '\(key)'"))
        case 9: return try readArray(key: key, depth: depth + 1, reader: &reader)
        case 10: return .uint64(try reader.read(UInt64.self, for: "value of '\(key)'"))
        case 11: return .int64(try reader.read(Int64.self, for: "value of '\(key)'"))
        case 12: return .float64(Double(bitPattern: try reader.read(UInt64.self, for: "value of '\(key)'")))
        default: throw .unknownValueType(key: key, code: typeCode)
        }
    }

    private static func readArray(
        key: String, depth: Int, reader: inout GGUFByteReader
    ) throws(GGUFError) -> GGUFValue {
        guard depth <= maxArrayDepth else {
            throw .invalidMetadata(key: key, reason: "arrays nest more than \(maxArrayDepth) levels deep")
        }
        let elementType = try reader.read(UInt32.self, for: "element type of array '\(key)'")
        let count = try reader.readCount(for: "length of array '\(key)'")
        guard let elementBytes = minimumEncodedSize(typeCode: elementType) else {
            throw .unknownValueType(key: key, code: elementType)
        }
        // Check the count against the bytes left before reserving memory for it.
        let (needed, overflow) = count.multipliedReportingOverflow(by: elementBytes)
        try reader.require(overflow ? -1 : needed, for: "\(count) elements of array '\(key)'")

        var values: [GGUFValue] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            values.append(try readValue(typeCode: elementType, key: key, depth: depth, reader: &reader))
        }
        return .array(values)
    }

    /// The minimum number of bytes one value of the type takes, or nil for a type code GGUF does not define.
    private static func minimumEncodedSize(typeCode: UInt32) -> Int? {
        switch typeCode {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12: return 8
        case 8: return 8  // the length of an empty string
        case 9: return 12  // element type and length of an empty array
        default: return nil
        }
    }
}
