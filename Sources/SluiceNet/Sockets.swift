import CSystem

#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers over the socket calls that listeners and connections share.
enum Sockets {
    /// Creates a non-blocking TCP socket bound to `address` and listening.
    /// - Parameter reusePort: sets `SO_REUSEPORT`, so several sockets (one per
    ///   loop) can listen on the same port and the kernel spreads connections
    ///   across them.
    static func makeListeningSocket(address: SocketAddress, reusePort: Bool, backlog: Int32) throws -> Int32 {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.lastError("socket") }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, name: "SO_REUSEADDR")
            if reusePort {
                try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, name: "SO_REUSEPORT")
            }
            if case .v6 = address {
                // Listen on IPv6 only, so "::" and "0.0.0.0" can be bound side by side.
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, name: "IPV6_V6ONLY")
            }
            try address.withSockAddr { pointer, length in
                guard bind(fd, pointer, length) == 0 else { throw SocketError.lastError("bind \(address)") }
            }
            guard listen(fd, backlog) == 0 else { throw SocketError.lastError("listen") }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32, name: String) throws {
        var value = value
        guard setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SocketError.lastError("setsockopt(\(name))")
        }
    }

    /// Turns off Nagle's algorithm so small responses leave at once. A
    /// failure is ignored: the socket still works, only with more latency.
    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The address a socket is bound to.
    static func localAddress(_ fd: Int32) throws -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { throw SocketError.lastError("getsockname") }
        guard let address = SocketAddress(storage) else {
            throw SocketError("getsockname", code: EAFNOSUPPORT)
        }
        return address
    }

    /// The pending error of a socket (`SO_ERROR`), or 0.
    static func pendingError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
        return code
    }
}
