#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address (address and port).
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(IPv4)
    case v6(IPv6)

    /// An IPv4 address and port, stored as the system's `sockaddr_in`.
    public struct IPv4: Sendable, Hashable {
        var storage: sockaddr_in

        public static func == (lhs: IPv4, rhs: IPv4) -> Bool {
            lhs.storage.sin_port == rhs.storage.sin_port && lhs.storage.sin_addr.s_addr == rhs.storage.sin_addr.s_addr
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(storage.sin_port)
            hasher.combine(storage.sin_addr.s_addr)
        }
    }

    /// An IPv6 address and port, stored as the system's `sockaddr_in6`.
    public struct IPv6: Sendable, Hashable {
        var storage: sockaddr_in6

        public static func == (lhs: IPv6, rhs: IPv6) -> Bool {
            lhs.storage.sin6_port == rhs.storage.sin6_port && lhs.storage.sin6_scope_id == rhs.storage.sin6_scope_id
                && withUnsafeBytes(of: lhs.storage.sin6_addr) { left in
                    withUnsafeBytes(of: rhs.storage.sin6_addr) { right in left.elementsEqual(right) }
                }
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(storage.sin6_port)
            withUnsafeBytes(of: storage.sin6_addr) { hasher.combine(bytes: $0) }
        }
    }

    /// Resolves `host` for a listening or connecting socket on `port`.
    ///
    /// Numeric addresses ("127.0.0.1", "::1", "0.0.0.0", "::") are parsed
    /// without a lookup; names such as "localhost" go through `getaddrinfo`
    /// (which reads /etc/hosts and may block on DNS), and the first IPv4 or
    /// IPv6 result is used.
    /// - Throws: `SocketAddressError` when the host is not an address and does not resolve.
    public init(host: String, port: Int) throws {
        guard (0...65535).contains(port) else {
            throw SocketAddressError(host: host, port: port, reason: "port must be between 0 and 65535")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            let reason = String(cString: gai_strerror(status))
            throw SocketAddressError(host: host, port: port, reason: reason)
        }
        defer { freeaddrinfo(first) }

        var current: UnsafeMutablePointer<addrinfo>? = first
        while let info = current {
            if let address = info.pointee.ai_addr, let parsed = SocketAddress(address) {
                self = parsed
                return
            }
            current = info.pointee.ai_next
        }
        throw SocketAddressError(host: host, port: port, reason: "no IPv4 or IPv6 address found")
    }

    /// Copies an address returned by the system; nil for families other than IPv4 and IPv6.
    init?(_ address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            self = .v4(IPv4(storage: UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)))
        case AF_INET6:
            self = .v6(IPv6(storage: UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self)))
        default:
            return nil
        }
    }

    /// Copies an address from `sockaddr_storage` filled in by `accept4` or `getsockname`.
    init?(_ storage: sockaddr_storage) {
        var copy = storage
        let parsed = withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0) }
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// `AF_INET` or `AF_INET6`.
    var family: Int32 {
        switch self {
        case .v4: AF_INET
        case .v6: AF_INET6
        }
    }

    /// The port number in host byte order.
    public var port: Int {
        switch self {
        case .v4(let address): Int(UInt16(bigEndian: address.storage.sin_port))
        case .v6(let address): Int(UInt16(bigEndian: address.storage.sin6_port))
        }
    }

    /// The address as text, such as "127.0.0.1" or "::1".
    public var host: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch self {
        case .v4(let address):
            var raw = address.storage.sin_addr
            inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
        case .v6(let address):
            var raw = address.storage.sin6_addr
            inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "host:port", with IPv6 hosts in brackets ("[::1]:8080").
    public var description: String {
        switch self {
        case .v4: "\(host):\(port)"
        case .v6: "[\(host)]:\(port)"
        }
    }

    /// Returns a copy with `port` replaced.
    func withPort(_ port: Int) -> SocketAddress {
        switch self {
        case .v4(var address):
            address.storage.sin_port = UInt16(port).bigEndian
            return .v4(address)
        case .v6(var address):
            address.storage.sin6_port = UInt16(port).bigEndian
            return .v6(address)
        }
    }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) rethrows -> Result {
        switch self {
        case .v4(let address):
            var storage = address.storage
            return try withUnsafePointer(to: &storage) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(let address):
            var storage = address.storage
            return try withUnsafePointer(to: &storage) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }
}

/// A host that could not be turned into a socket address.
public struct SocketAddressError: Error, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Why resolution failed, as reported by `getaddrinfo` or the check that rejected the input.
    public var reason: String

    public var description: String {
        "invalid listen address \(host):\(port): \(reason)"
    }
}
