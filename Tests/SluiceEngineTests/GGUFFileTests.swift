import Foundation
import Testing

@testable import SluiceEngine

@Suite("GGUFFile")
struct GGUFFileTests {
    // MARK: The real model

    @Test("model metadata")
    func modelMetadata() throws {
        let file = try TestResources.openModelFile()
        #expect(file.version == 3)
        #expect(file.metadata.count == 33)
        #expect(file.metadata["general.architecture"]?.string == "llama")
        #expect(file.metadata["llama.block_count"]?.integer == 30)
        #expect(file.metadata["llama.embedding_length"]?.integer == 576)
        #expect(file.metadata["llama.attention.head_count"]?.integer == 9)
        #expect(file.metadata["llama.attention.head_count_kv"]?.integer == 3)
        #expect(file.metadata["llama.rope.freq_base"]?.float == 100_000)
        let epsilon = try #require(file.metadata["llama.attention.layer_norm_rms_epsilon"]?.float)
        #expect(abs(epsilon - 1e-5) < 1e-9)
        #expect(file.metadata["tokenizer.ggml.add_bos_token"] == .bool(false))
        #expect(file.metadata["general.languages"]?.strings == ["en"])

        let tokens = try #require(file.metadata["tokenizer.ggml.tokens"]?.strings)
        #expect(tokens.count == 49152)
        #expect(tokens[1] == "<|im_start|>")
        #expect(tokens[2] == "<|im_end|>")
        #expect(file.metadata["tokenizer.ggml.merges"]?.strings?.count == 48900)
        #expect(file.metadata["tokenizer.ggml.token_type"]?.integers?.count == 49152)
        #expect(file.metadata["tokenizer.chat_template"]?.string?.contains("<|im_start|>") == true)
    }

    @Test("model tensors")
    func modelTensors() throws {
        let file = try TestResources.openModelFile()
        #expect(file.tensors.count == 272)
        #expect(file.alignment == 32)
        #expect(file.dataOffset % 32 == 0)

        var typeCounts: [GGMLType: Int] = [:]
        for tensor in file.tensors {
            typeCounts[tensor.type, default: 0] += 1
        }
        #expect(typeCounts == [.q4_1: 210, .f32: 61, .q8_0: 1])

        let embedding = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embedding.type == .q8_0)
        #expect(embedding.dimensions == [576, 49152])
        #expect(embedding.byteCount == 576 / 32 * 34 * 49152)
        #expect(file.data(of: embedding).count == embedding.byteCount)

        let down = try #require(file.tensor(named: "blk.0.ffn_down.weight"))
        #expect(down.type == .q4_1)
        #expect(down.dimensions == [1536, 576])
        #expect(down.rowCount == 576)

        let norm = try #require(file.tensor(named: "output_norm.weight"))
        #expect(norm.type == .f32)
        let weights = file.data(of: norm).bindMemory(to: Float.self)
        #expect(weights.count == 576)
        #expect(weights.allSatisfy { $0.isFinite })
        #expect(file.tensor(named: "output.weight") == nil)
    }

    // MARK: Small files

    @Test("all value types", arguments: [UInt32(2), 3])
    func allValueTypes(version: UInt32) throws {
        var builder = GGUFBuilder()
        builder.version = version
        builder.metadata = [
            ("u8", .raw(typeCode: 0, [200])),
            ("i8", .raw(typeCode: 1, [0xFE])),
            ("u16", .raw(typeCode: 2, [0x34, 0x12])),
            ("i16", .raw(typeCode: 3, [0xFF, 0xFF])),
            ("u32", .uint32(4_000_000_000)),
            ("i32", .int32(-7)),
            ("u64", .uint64(1 << 40)),
            ("i64", .raw(typeCode: 11, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])),
            ("f32", .float32(1.5)),
            ("f64", .raw(typeCode: 12, withUnsafeBytes(of: (0.25 as Double).bitPattern.littleEndian) { Array($0) })),
            ("yes", .bool(true)),
            ("name", .string("héllo")),
            ("list", .array(elementType: 8, [.string("a"), .string("")])),
            ("nested", .array(elementType: 9, [
                .array(elementType: 5, [.int32(1), .int32(2)]),
                .array(elementType: 5, []),
            ])),
        ]
        let file = try GGUFFile(path: TestResources.writeTemporaryFile(builder.build()))

        #expect(file.version == version)
        #expect(file.metadata["u8"] == .uint8(200))
        #expect(file.metadata["i8"] == .int8(-2))
        #expect(file.metadata["u16"] == .uint16(0x1234))
        #expect(file.metadata["i16"] == .int16(-1))
        #expect(file.metadata["u32"] == .uint32(4_000_000_000))
        #expect(file.metadata["i32"]?.integer == -7)
        #expect(file.metadata["u64"]?.integer == 1 << 40)
        #expect(file.metadata["i64"] == .int64(-2))
        #expect(file.metadata["f32"]?.float == 1.5)
        #expect(file.metadata["f64"] == .float64(0.25))
        #expect(file.metadata["yes"] == .bool(true))
        #expect(file.metadata["name"]?.string == "héllo")
        #expect(file.metadata["list"]?.strings == ["a", ""])
        #expect(file.metadata["nested"] == .array([.array([.int32(1), .int32(2)]), .array([])]))
        #expect(file.metadata["nested"]?.array?.first?.integers == [1, 2])
        #expect(file.metadata["name"]?.integer == nil)
        #expect(file.tensors.isEmpty)
    }

    @Test("tensor data and custom alignment")
    func tensorData() throws {
        var builder = GGUFBuilder()
        builder.alignment = 64
        builder.metadata = [("general.alignment", .uint32(64))]
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        let bytes = values.withUnsafeBytes { Array($0) }
        builder.tensors = [
            .init(name: "a", dimensions: [3, 2], typeCode: 0, data: bytes),
            .init(name: "b", dimensions: [2], typeCode: 0, data: Array(bytes[0..<8])),
        ]
        let file = try GGUFFile(path: TestResources.writeTemporaryFile(builder.build()))

        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        let a = try #require(file.tensor(named: "a"))
        #expect(a.dimensions == [3, 2])
        #expect(a.elementCount == 6)
        #expect(Array(file.data(of: a).bindMemory(to: Float.self)) == values)
        let b = try #require(file.tensor(named: "b"))
        #expect(b.offset == 64)
        #expect(Array(file.data(of: b).bindMemory(to: Float.self)) == [1, 2])
    }

    // MARK: Corrupt files

    @Test("missing file")
    func missingFile() {
        let error = #expect(throws: GGUFError.self) {
            try GGUFFile(path: "/nonexistent/model.gguf")
        }
        #expect(error?.description.contains("/nonexistent/model.gguf") == true)
    }

    @Test("truncated header")
    func truncatedHeader() throws {
        let path = try TestResources.writeTemporaryFile(Array(GGUFBuilder().build()[0..<10]))
        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        guard case .truncated(let what, _, _, let fileSize) = error else {
            Issue.record("expected a truncation error, got \(String(describing: error))")
            return
        }
        #expect(what == "file header")
        #expect(fileSize == 10)
    }

    @Test("empty file")
    func emptyFile() throws {
        let path = try TestResources.writeTemporaryFile([])
        #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
    }

    @Test("bad magic")
    func badMagic() throws {
        var builder = GGUFBuilder()
        builder.magic = Array("GGML".utf8)
        let path = try TestResources.writeTemporaryFile(builder.build())
        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        #expect(error == .badMagic(found: 0x4C4D_4747))
        #expect(error?.description.contains("not a GGUF file") == true)
    }

    @Test("unsupported version", arguments: [UInt32(1), 4])
    func unsupportedVersion(version: UInt32) throws {
        var builder = GGUFBuilder()
        builder.version = version
        let path = try TestResources.writeTemporaryFile(builder.build())
        #expect(throws: GGUFError.unsupportedVersion(version)) { try GGUFFile(path: path) }
    }

    @Test("string length past end")
    func stringLengthPastEnd() throws {
        var builder = GGUFBuilder()
        builder.metadata = [("name", .string("hello"))]
        var bytes = builder.build()
        // The value's length field follows the 24-byte header, the key (8 + 4 bytes) and the type (4 bytes).
        let lengthOffset = 24 + 12 + 4
        bytes.replaceSubrange(lengthOffset..<lengthOffset + 8, with: withUnsafeBytes(of: UInt64(1 << 40)) { Array($0) })
        let path = try TestResources.writeTemporaryFile(bytes)

        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        guard case .truncated(let what, let offset, let needed, _) = error else {
            Issue.record("expected a truncation error, got \(String(describing: error))")
            return
        }
        #expect(what.contains("'name'"))
        #expect(offset == lengthOffset + 8)
        #expect(needed == 1 << 40)
    }

    @Test("array count past end")
    func arrayCountPastEnd() throws {
        var builder = GGUFBuilder()
        builder.metadata = [("list", .array(elementType: 4, [.uint32(1)]))]
        var bytes = builder.build()
        let countOffset = 24 + 12 + 4 + 4
        bytes.replaceSubrange(countOffset..<countOffset + 8, with: withUnsafeBytes(of: UInt64.max / 2) { Array($0) })
        let path = try TestResources.writeTemporaryFile(bytes)

        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        #expect(error?.description.contains("array 'list'") == true)
    }

    @Test("huge metadata count")
    func hugeMetadataCount() throws {
        var bytes = GGUFBuilder().build()
        bytes.replaceSubrange(16..<24, with: withUnsafeBytes(of: UInt64(1 << 62)) { Array($0) })
        let path = try TestResources.writeTemporaryFile(bytes)
        #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
    }

    @Test("unknown value type")
    func unknownValueType() throws {
        var builder = GGUFBuilder()
        builder.metadata = [("odd", .raw(typeCode: 13, [0, 0, 0, 0]))]
        let path = try TestResources.writeTemporaryFile(builder.build())
        #expect(throws: GGUFError.unknownValueType(key: "odd", code: 13)) { try GGUFFile(path: path) }
    }

    @Test("unknown array element type")
    func unknownArrayElementType() throws {
        var builder = GGUFBuilder()
        builder.metadata = [("odd", .array(elementType: 99, []))]
        let path = try TestResources.writeTemporaryFile(builder.build())
        #expect(throws: GGUFError.unknownValueType(key: "odd", code: 99)) { try GGUFFile(path: path) }
    }

    @Test("arrays nested too deep")
    func arraysNestedTooDeep() throws {
        var value = GGUFBuilder.Value.array(elementType: 4, [])
        for _ in 0..<20 {
            value = .array(elementType: 9, [value])
        }
        var builder = GGUFBuilder()
        builder.metadata = [("deep", value)]
        let path = try TestResources.writeTemporaryFile(builder.build())
        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        #expect(error?.description.contains("nest") == true)
    }

    @Test("duplicate key")
    func duplicateKey() throws {
        var builder = GGUFBuilder()
        builder.metadata = [("a", .uint32(1)), ("a", .uint32(2))]
        let path = try TestResources.writeTemporaryFile(builder.build())
        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        #expect(error?.description.contains("'a'") == true)
    }

    @Test("bad alignment")
    func badAlignment() throws {
        var builder = GGUFBuilder()
        builder.metadata = [("general.alignment", .uint32(24))]
        let path = try TestResources.writeTemporaryFile(builder.build())
        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        #expect(error?.description.contains("general.alignment") == true)
    }

    @Test("tensor data past end")
    func tensorDataPastEnd() throws {
        var builder = GGUFBuilder()
        builder.tensors = [.init(name: "w", dimensions: [64], typeCode: 0, data: [UInt8](repeating: 0, count: 256))]
        let bytes = builder.build()
        let path = try TestResources.writeTemporaryFile(Array(bytes.dropLast(100)))

        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        guard case .tensorDataOutOfBounds(let name, _, _, _) = error else {
            Issue.record("expected tensorDataOutOfBounds, got \(String(describing: error))")
            return
        }
        #expect(name == "w")
    }

    @Test("unknown tensor type")
    func unknownTensorType() throws {
        var builder = GGUFBuilder()
        builder.tensors = [.init(name: "w", dimensions: [32], typeCode: 77, data: [UInt8](repeating: 0, count: 32))]
        let path = try TestResources.writeTemporaryFile(builder.build())
        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        #expect(error?.description.contains("'w'") == true)
        #expect(error?.description.contains("77") == true)
    }

    @Test("tensor dimensions not a block multiple")
    func tensorDimensionsNotBlockMultiple() throws {
        var builder = GGUFBuilder()
        builder.tensors = [.init(name: "q", dimensions: [40], typeCode: 3, data: [UInt8](repeating: 0, count: 40))]
        let path = try TestResources.writeTemporaryFile(builder.build())
        let error = #expect(throws: GGUFError.self) { try GGUFFile(path: path) }
        #expect(error?.description.contains("Q4_1") == true)
    }

    @Test("every truncation throws")
    func everyTruncationThrows() throws {
        var builder = GGUFBuilder()
        builder.metadata = [
            ("name", .string("model")),
            ("list", .array(elementType: 8, [.string("x"), .string("yz")])),
            ("count", .uint32(3)),
        ]
        builder.tensors = [.init(name: "w", dimensions: [8], typeCode: 0, data: [UInt8](repeating: 1, count: 32))]
        let bytes = builder.build()
        _ = try GGUFFile(path: TestResources.writeTemporaryFile(bytes))

        for length in 0..<bytes.count {
            let path = try TestResources.writeTemporaryFile(Array(bytes[0..<length]))
            #expect(throws: GGUFError.self, "prefix of \(length) bytes") { try GGUFFile(path: path) }
        }
    }
}
