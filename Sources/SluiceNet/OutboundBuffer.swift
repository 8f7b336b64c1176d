#if canImport(Glibc)
import Glibc
#endif

/// A block of memory that output bytes are copied into before they are
/// written to a socket.
///
/// Output lives in manually allocated chunks rather than `[UInt8]` values so
/// that `sendmsg` can be given stable pointers into them, and so a loop can
/// reuse the same few chunks for every small response.
final class OutboundChunk {
    let storage: UnsafeMutableRawPointer
    let capacity: Int
    /// Offset of the first byte not yet written to the socket.
    var readIndex = 0
    /// Offset just past the last byte appended.
    var writeIndex = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        storage.deallocate()
    }

    var readableCount: Int { writeIndex - readIndex }
    var writableCount: Int { capacity - writeIndex }

    /// Copies as much of `bytes` as fits and returns how many bytes it copied.
    func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let copied = min(bytes.count, writableCount)
        if copied > 0 {
            (storage + writeIndex).copyMemory(from: bytes.baseAddress!, byteCount: copied)
            writeIndex += copied
        }
        return copied
    }
}

/// Free output chunks of one event loop, so steady-state output allocates nothing.
final class ChunkPool {
    /// Capacity of pooled chunks. Larger writes get a chunk of their own size,
    /// freed when written.
    static let standardCapacity = 16 * 1024
    /// Most chunks kept for reuse (4 MiB at the standard capacity).
    static let maxFreeChunks = 256

    private var freeChunks: [OutboundChunk] = []

    func take(minimumCapacity: Int) -> OutboundChunk {
        if minimumCapacity <= Self.standardCapacity, let chunk = freeChunks.popLast() {
            return chunk
        }
        return OutboundChunk(capacity: max(minimumCapacity, Self.standardCapacity))
    }

    func recycle(_ chunk: OutboundChunk) {
        guard chunk.capacity == Self.standardCapacity, freeChunks.count < Self.maxFreeChunks else { return }
        chunk.readIndex = 0
        chunk.writeIndex = 0
        freeChunks.append(chunk)
    }

    var freeCount: Int { freeChunks.count }
}

/// Bytes waiting to be written to one socket: a queue of chunks, written
/// front to back with gathered `sendmsg` calls.
struct OutboundBuffer {
    private var chunks: [OutboundChunk] = []
    private var head = 0
    /// Number of bytes buffered and not yet written.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Copies `bytes` to the end of the buffer.
    mutating func append(_ bytes: UnsafeRawBufferPointer, pool: ChunkPool) {
        guard !bytes.isEmpty else { return }
        count += bytes.count
        var remaining = bytes
        if head < chunks.count, let last = chunks.last {
            let copied = last.append(remaining)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[copied...])
        }
        while !remaining.isEmpty {
            let chunk = pool.take(minimumCapacity: remaining.count)
            let copied = chunk.append(remaining)
            chunks.append(chunk)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[copied...])
        }
    }

    /// Lets `body` write up to `maximumCount` bytes straight into the buffer's
    /// memory; `body` returns how many it wrote.
    mutating func append(
        maximumCount: Int, pool: ChunkPool, _ body: (UnsafeMutableRawBufferPointer) -> Int
    ) {
        let chunk: OutboundChunk
        if head < chunks.count, let last = chunks.last, last.writableCount >= maximumCount {
            chunk = last
        } else {
            chunk = pool.take(minimumCapacity: maximumCount)
            chunks.append(chunk)
        }
        let space = UnsafeMutableRawBufferPointer(start: chunk.storage + chunk.writeIndex, count: maximumCount)
        let written = body(space)
        precondition(written >= 0 && written <= maximumCount, "wrote \(written) bytes into room for \(maximumCount)")
        chunk.writeIndex += written
        count += written
    }

    /// Writes as much as the socket takes with one `sendmsg` (gathering up to
    /// `maxIOVecCount` chunks). Returns the number of bytes written, or the
    /// negated `errno` when the call failed.
    mutating func send(to fd: Int32, iovecs: UnsafeMutablePointer<iovec>, maxIOVecCount: Int, pool: ChunkPool) -> Int {
        var iovecCount = 0
        var index = head
        while index < chunks.count && iovecCount < maxIOVecCount {
            let chunk = chunks[index]
            iovecs[iovecCount] = iovec(iov_base: chunk.storage + chunk.readIndex, iov_len: chunk.readableCount)
            iovecCount += 1
            index += 1
        }

        var message = msghdr()
        message.msg_iov = iovecs
        message.msg_iovlen = iovecCount
        // MSG_NOSIGNAL: a closed peer yields EPIPE instead of killing the process with SIGPIPE.
        let written = sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
        if written < 0 { return -Int(errno) }
        consume(written, pool: pool)
        return written
    }

    /// Drops everything buffered, returning chunks to the pool.
    mutating func removeAll(pool: ChunkPool) {
        for index in head..<chunks.count {
            pool.recycle(chunks[index])
        }
        chunks.removeAll(keepingCapacity: false)
        head = 0
        count = 0
    }

    private mutating func consume(_ written: Int, pool: ChunkPool) {
        count -= written
        var remaining = written
        while remaining > 0 {
            let chunk = chunks[head]
            let readable = chunk.readableCount
            if remaining < readable {
                chunk.readIndex += remaining
                return
            }
            remaining -= readable
            pool.recycle(chunk)
            head += 1
        }
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 32 {
            chunks.removeFirst(head)
            head = 0
        }
    }
}
