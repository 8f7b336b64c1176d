import CSystem
import SluiceCore

#if canImport(Glibc)
import Glibc
#endif

/// A socket that `accept4` returned: non-blocking, close-on-exec, with
/// `TCP_NODELAY` set. The receiver owns the descriptor and must either turn
/// it into a `Connection` or close it.
public struct AcceptedSocket: Sendable {
    let fd: Int32
    /// The peer's address, when the system reported one.
    public let remoteAddress: SocketAddress?

    /// Closes the socket without using it.
    public func close() {
        _ = Glibc.close(fd)
    }
}

/// A listening TCP socket registered with one event loop.
///
/// Each readiness event accepts up to `maxAcceptsPerEvent` connections. When
/// the process or system is out of descriptors or memory (`EMFILE`,
/// `ENFILE`, `ENOBUFS`, `ENOMEM`), the listener logs a warning and stops
/// watching the socket for `acceptBackoff` before it tries again. Pending
/// connections wait in the kernel's backlog meanwhile, so the loop never
/// spins on an accept that keeps failing.
public final class TCPListener {
    /// The loop the listener is registered with.
    public let eventLoop: EventLoop
    /// The address the socket is bound to (with the real port when 0 was requested).
    public let localAddress: SocketAddress

    let fd: Int32
    private let onAccept: (AcceptedSocket) -> Void
    private let logger: Logger
    private var isClosed = false
    private var isRegistered = false
    private var backoffTimer: TimerHandle?

    /// Most connections accepted per readiness event, so one busy listener
    /// cannot keep its loop from serving the connections it already has.
    static let maxAcceptsPerEvent = 64
    /// How long accepting pauses after running out of descriptors or memory.
    public static let acceptBackoff = Duration.milliseconds(100)

    private static let acceptFailures = MetricsRegistry.shared.counter(
        "sluice_net_accept_failures_total",
        help: "accept4 calls that failed for lack of descriptors or memory; accepting paused briefly after each")

    /// Binds a listening socket to `address` for `eventLoop`. Call `start()`
    /// on the loop's thread to begin accepting. Binding may happen on any thread.
    /// - Parameters:
    ///   - reusePort: sets `SO_REUSEPORT` so that several listeners (one per
    ///     loop) can share the port.
    ///   - backlog: length of the kernel's queue of connections not yet accepted.
    ///   - onAccept: called on `eventLoop` for each accepted socket.
    /// - Throws: `SocketError` when the socket cannot be created, bound or put in listening state.
    public convenience init(
        address: SocketAddress,
        reusePort: Bool = false,
        backlog: Int32 = 1024,
        eventLoop: EventLoop,
        onAccept: @escaping (AcceptedSocket) -> Void
    ) throws {
        let fd = try Sockets.makeListeningSocket(address: address, reusePort: reusePort, backlog: backlog)
        try self.init(adopting: fd, eventLoop: eventLoop, onAccept: onAccept)
    }

    /// Takes over `fd`, a socket already bound and listening; closes it if
    /// its address cannot be read.
    init(adopting fd: Int32, eventLoop: EventLoop, onAccept: @escaping (AcceptedSocket) -> Void) throws {
        do {
            localAddress = try Sockets.localAddress(fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.fd = fd
        self.eventLoop = eventLoop
        self.onAccept = onAccept
        self.logger = Logger(label: "sluice.net")
            .with("loop", String(eventLoop.index))
            .with("address", localAddress.description)
    }

    deinit {
        if !isClosed {
            Glibc.close(fd)
        }
    }

    /// Registers the socket with the loop; connections are accepted from now on.
    /// - Throws: `SocketError` when `epoll_ctl` fails.
    public func start() throws {
        eventLoop.preconditionInEventLoop()
        guard !isClosed, !isRegistered else { return }
        try eventLoop.register(fd, events: csystem_epollin(), target: self)
        isRegistered = true
    }

    /// Stops accepting and closes the socket. Connections still in the
    /// kernel's backlog are reset.
    public func close() {
        eventLoop.preconditionInEventLoop()
        guard !isClosed else { return }
        isClosed = true
        if let backoffTimer {
            eventLoop.cancelTimer(backoffTimer)
        }
        backoffTimer = nil
        if isRegistered {
            eventLoop.deregister(fd)
        }
        isRegistered = false
        Glibc.close(fd)
    }

    private func acceptConnections() {
        for _ in 0..<Self.maxAcceptsPerEvent {
            guard !isClosed else { return }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    csystem_accept4(fd, $0, &length, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
                }
            }
            if client >= 0 {
                Sockets.setNoDelay(client)
                onAccept(AcceptedSocket(fd: client, remoteAddress: SocketAddress(storage)))
                continue
            }

            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK:
                return
            case EINTR, ECONNABORTED, EPROTO, EPERM:
                // The pending connection went away or a filter rejected it; try the next one.
                continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                Self.acceptFailures.increment()
                logger.warning(
                    "accepting paused: out of file descriptors or memory",
                    [("error", SocketError("accept4", code: code)), ("retry_ms", Int(Self.acceptBackoff / .milliseconds(1)))])
                pauseAccepting()
                return
            default:
                logger.error("accept4 failed", [("error", SocketError("accept4", code: code))])
                pauseAccepting()
                return
            }
        }
    }

    private func pauseAccepting() {
        guard isRegistered, backoffTimer == nil else { return }
        eventLoop.deregister(fd)
        isRegistered = false
        backoffTimer = eventLoop.scheduleTimer(after: Self.acceptBackoff) { [weak self] in
            guard let self else { return }
            self.backoffTimer = nil
            guard !self.isClosed else { return }
            do {
                try self.start()
            } catch {
                self.logger.error("listener could not resume accepting", [("error", error)])
            }
        }
    }
}

extension TCPListener: EventLoopSelectable {
    func handleEvents(_ events: UInt32) {
        acceptConnections()
    }

    func closeBecauseLoopStopped() {
        close()
    }
}
