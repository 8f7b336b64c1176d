/// A cursor over the mapped bytes of a GGUF file that checks every read
/// against the file size and reports what it was reading when it runs out.
struct GGUFByteReader {
    let base: UnsafeRawPointer
    let size: Int
    private(set) var offset: Int = 0

    init(base: UnsafeRawPointer, size: Int) {
        self.base = base
        self.size = size
    }

    var remaining: Int { size - offset }

    /// Throws `GGUFError.truncated` unless `count` more bytes are available.
    func require(_ count: Int, for what: @autoclosure () -> String) throws(GGUFError) {
        guard count >= 0, count <= remaining else {
            throw .truncated(what: what(), offset: offset, needed: count, fileSize: size)
        }
    }

    /// Reads a little-endian integer.
    mutating func read<T: FixedWidthInteger>(_: T.Type, for what: @autoclosure () -> String) throws(GGUFError) -> T {
        try require(MemoryLayout<T>.size, for: what())
        let value = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    /// Reads a 64-bit count or length and checks that it fits in `Int`.
    mutating func readCount(for what: @autoclosure () -> String) throws(GGUFError) -> Int {
        let start = offset
        let raw = try read(UInt64.self, for: what())
        guard let count = Int(exactly: raw) else {
            throw .truncated(what: what(), offset: start, needed: Int.max, fileSize: size)
        }
        return count
    }

    /// Reads a GGUF string: a 64-bit byte length, then that many UTF-8 bytes.
    /// Invalid UTF-8 is repaired with U+FFFD rather than rejected.
    mutating func readString(for what: @autoclosure () -> String) throws(GGUFError) -> String {
        let length = try readCount(for: what())
        try require(length, for: what())
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
        offset += length
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Moves the cursor forward to the next multiple of `alignment`, which may lie past the end.
    mutating func align(to alignment: Int) {
        let misalignment = offset % alignment
        if misalignment != 0 {
            offset += alignment - misalignment
        }
    }
}
