#if canImport(Glibc)
import Glibc
#endif

/// A failed system call on a socket or another file descriptor.
public struct SocketError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call that failed, such as `bind` or `epoll_ctl`.
    public var operation: String
    /// The `errno` value the call left.
    public var code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    /// Captures the current `errno` for `operation`.
    static func lastError(_ operation: String) -> SocketError {
        SocketError(operation, code: errno)
    }

    public var description: String {
        let reason = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
        return "\(operation) failed: \(reason) (errno \(code))"
    }
}

/// Why a connection closed, when the peer or the system closed it rather than
/// this side.
public enum ConnectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The peer reset the connection (`ECONNRESET`, `EPIPE` or `EPOLLHUP`).
    case reset
    /// The peer closed its side of the connection (end of input).
    case endOfInput
    /// Output stayed blocked for longer than the connection's write timeout.
    case writeTimeout
    /// The server closed the connection because it is shutting down.
    case shutdown
    /// A system call failed in another way.
    case system(SocketError)

    public var description: String {
        switch self {
        case .reset: "connection reset by peer"
        case .endOfInput: "peer closed the connection"
        case .writeTimeout: "write timed out"
        case .shutdown: "server shutting down"
        case .system(let error): error.description
        }
    }

    /// Maps an `errno` value from `read` or `sendmsg` to a close reason.
    static func fromErrno(_ code: Int32, operation: String) -> ConnectionError {
        switch code {
        case ECONNRESET, EPIPE, ECONNABORTED: .reset
        default: .system(SocketError(operation, code: code))
        }
    }
}
