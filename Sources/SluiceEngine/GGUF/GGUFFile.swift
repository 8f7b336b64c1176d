#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A GGUF model file (versions 2 and 3), memory-mapped read-only.
///
/// The initializer parses the header, all metadata and all tensor infos, and
/// checks that every tensor's data lies inside the file, so `data(of:)` never
/// reads out of bounds. Tensor data is not copied: the pages load on demand.
///
/// `@unchecked Sendable` is safe because every stored property is a `let`
/// set in `init` and the mapping is read-only (`PROT_READ`) and lives until
/// `deinit`. No thread can observe a mutation.
public final class GGUFFile: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    /// The format version: 2 or 3.
    public let version: UInt32
    /// All metadata key-value pairs.
    public let metadata: [String: GGUFValue]
    /// The tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// The alignment of the data section and of each tensor in it, from `general.alignment` (default 32).
    public let alignment: Int
    /// The byte offset in the file where the data section starts.
    public let dataOffset: Int
    /// The size of the file in bytes.
    public let fileSize: Int

    private let mapping: UnsafeRawPointer
    private let tensorIndex: [String: Int]

    /// The default alignment when `general.alignment` is absent.
    public static let defaultAlignment = 32

    /// Array nesting deeper than this is rejected, so that a corrupt file cannot exhaust the stack.
    static let maxArrayDepth = 8

    /// Opens, maps and parses a GGUF file.
    ///
    /// - Throws: `GGUFError` naming what is missing or wrong when the file cannot
    ///   be read, is not GGUF, has an unsupported version, or is truncated or corrupt.
    public init(path: String) throws(GGUFError) {
        self.path = path

        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .cannotOpen(path: path, reason: Self.systemError())
        }
        defer { close(descriptor) }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw .cannotOpen(path: path, reason: Self.systemError())
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        // The magic, the version and the two counts take 24 bytes.
        guard size >= 24 else {
            throw .truncated(what: "file header", offset: 0, needed: 24, fileSize: size)
        }

        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "mmap failed: \(Self.systemError())")
        }
        let base = UnsafeRawPointer(address)

        do {
            let header = try Self.parse(base: base, size: size)
            self.version = header.version
            self.metadata = header.metadata
            self.tensors = header.tensors
            self.alignment = header.alignment
            self.dataOffset = header.dataOffset
            self.tensorIndex = header.tensorIndex
        } catch {
            munmap(address, size)
            throw error
        }
        self.mapping = base
        self.fileSize = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: mapping), fileSize)
    }

    /// Returns the tensor with this name, or nil when the file has none.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Returns the bytes of a tensor's data. They stay valid while this file object is alive.
    ///
    /// - Precondition: `tensor` comes from this file's `tensors`.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + tensor.offset
        let count = tensor.byteCount
        precondition(start >= 0 && count >= 0 && start + count <= fileSize, "tensor '\(tensor.name)' is not from this file")
        return UnsafeRawBufferPointer(start: mapping + start, count: count)
    }

    private static func systemError() -> String {
        String(cString: strerror(errno))
    }
}
