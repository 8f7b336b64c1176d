/// The location, shape and storage type of one tensor in a GGUF file.
public struct GGUFTensorInfo: Sendable {
    /// The tensor's name, such as `blk.0.attn_q.weight`.
    public let name: String
    /// The sizes in ggml order: `dimensions[0]` is the innermost (contiguous) one,
    /// so a weight matrix with `n` output rows of `k` inputs is `[k, n]`.
    public let dimensions: [Int]
    /// The storage type.
    public let type: GGMLType
    /// The byte offset of the tensor's data, relative to the start of the file's data section.
    public let offset: Int

    /// The number of elements: the product of the dimensions.
    public var elementCount: Int {
        dimensions.reduce(1, *)
    }

    /// The number of bytes the data takes; 0 for a type whose layout is unknown.
    ///
    /// `GGUFFile` rejects unknown types and sizes that overflow, so this is exact
    /// for every tensor of a file that opened.
    public var byteCount: Int {
        guard let blockSize = type.blockSize, let blockBytes = type.blockBytes else { return 0 }
        return elementCount / blockSize * blockBytes
    }

    /// The number of rows: every dimension but the first multiplied together.
    public var rowCount: Int {
        dimensions.dropFirst().reduce(1, *)
    }
}
