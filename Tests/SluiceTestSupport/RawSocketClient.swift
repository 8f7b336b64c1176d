import SluiceNet

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client for tests: connects to a loopback port, sends bytes
/// and reads with a receive timeout, so a broken server fails a test instead
/// of hanging it.
public final class RawSocketClient {
    public private(set) var fd: Int32

    public struct Failure: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) { self.description = description }
    }

    public init(port: Int, host: String = "127.0.0.1", receiveTimeout: Duration = .seconds(5)) throws {
        let address = try SocketAddress(host: host, port: port)
        let family: Int32
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        }
        fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed: errno \(errno)") }

        var timeout = timeval(
            tv_sec: Int(receiveTimeout.components.seconds),
            tv_usec: Int(receiveTimeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var storage = sockaddr_storage()
        var length: socklen_t = 0
        switch address {
        case .v4:
            var raw = sockaddr_in()
            raw.sin_family = sa_family_t(AF_INET)
            raw.sin_port = UInt16(port).bigEndian
            inet_pton(AF_INET, host, &raw.sin_addr)
            withUnsafeBytes(of: raw) { bytes in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6:
            var raw = sockaddr_in6()
            raw.sin6_family = sa_family_t(AF_INET6)
            raw.sin6_port = UInt16(port).bigEndian
            inet_pton(AF_INET6, host, &raw.sin6_addr)
            withUnsafeBytes(of: raw) { bytes in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
        let result = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw Failure(description: "connect to \(host):\(port) failed: errno \(code)")
        }
    }

    deinit {
        close()
    }

    public func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }

    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            offset += written
        }
    }

    /// Reads once; returns an empty array at end of input.
    public func receiveSome(maxBytes: Int = 65536) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maxBytes)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, maxBytes, 0) }
        if count < 0 {
            throw Failure(description: "recv failed: errno \(errno)")
        }
        return Array(buffer.prefix(count))
    }

    /// Reads until `predicate` accepts what has arrived, or end of input.
    public func receive(until predicate: ([UInt8]) -> Bool) throws -> [UInt8] {
        var received: [UInt8] = []
        while !predicate(received) {
            let chunk = try receiveSome()
            if chunk.isEmpty { break }
            received += chunk
        }
        return received
    }

    /// Reads until the peer closes the connection.
    public func receiveUntilClosed() throws -> [UInt8] {
        try receive(until: { _ in false })
    }

    /// Reads exactly `count` bytes, or fewer if the peer closes first.
    public func receive(count: Int) throws -> [UInt8] {
        try receive(until: { $0.count >= count })
    }

    /// Sends an RST instead of a FIN when closed: SO_LINGER with a zero timeout.
    public func closeWithReset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    public func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}

/// Waits up to `timeout` for `condition` to become true, checking every few milliseconds.
public func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}
