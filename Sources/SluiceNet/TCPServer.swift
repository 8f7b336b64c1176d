import SluiceCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on an event loop group: it listens, spreads accepted
/// connections over the loops, gives each a handler, tracks them, and shuts
/// down gracefully.
public final class TCPServer: Sendable {
    /// Strategy for spreading accepted connections over the loops.
    public enum AcceptMode: Sendable {
        /// One listening socket per loop, all bound with `SO_REUSEPORT`. The
        /// kernel picks a socket by a hash of the peer's address and port, and
        /// the loop that accepts keeps the connection. Nothing crosses threads,
        /// but with few connections the split between loops can be uneven.
        case listenerPerLoop
        /// One listening socket on the first loop, which hands accepted sockets
        /// round-robin to every loop through their task queues. An even split
        /// at the cost of one cross-thread task per connection.
        case singleListener
    }

    /// Settings of the listening sockets and of every accepted connection.
    public struct Configuration: Sendable {
        /// Address to listen on: an IPv4 or IPv6 literal or a host name. Default "127.0.0.1".
        public var host = "127.0.0.1"
        /// Port to listen on; 0 picks a free port (see `TCPServer.localAddress`). Default 8080.
        public var port = 8080
        /// Length of the kernel's queue of connections not yet accepted. Default 1024.
        public var backlog: Int32 = 1024
        /// Strategy for spreading connections over loops. Default `.singleListener`:
        /// it gives every loop the same share of keep-alive connections (64
        /// connections on 2 loops split 32/32, where `SO_REUSEPORT` split them
        /// from 30/34 to 32/32 over 5 runs), and the busiest loop bounds throughput.
        /// Its cost, one cross-thread task per accepted connection, matters only
        /// for short-lived connections.
        public var acceptMode = AcceptMode.singleListener
        /// Buffered output at which a connection stops being writable. Default 256 KiB.
        public var highWaterMark = 256 * 1024
        /// Buffered output at which a connection becomes writable again. Default 64 KiB.
        public var lowWaterMark = 64 * 1024
        /// How long output may stay blocked without progress; nil disables the limit. Default 30 s.
        public var writeTimeout: Duration? = .seconds(30)
        /// How long a closing connection waits for the peer to close after the
        /// last output. Default 2 s.
        public var lingerTimeout = Duration.seconds(2)

        public init() {}
    }

    /// The event loops that run the server's connections.
    public let group: EventLoopGroup
    /// The address the server listens on, with the real port when 0 was requested.
    public let localAddress: SocketAddress

    private let loopStates: [ServerLoopState]
    private let shutdownState = Mutex(ShutdownState())
    private let logger: Logger

    private struct ShutdownState {
        var started = false
        var finished = false
        var remainingLoops = 0
        var completions: [@Sendable () -> Void] = []
    }

    /// Binds the listening sockets and starts accepting on `group`.
    /// - Parameter makeHandler: creates the handler of each new connection; called on the connection's loop.
    /// - Throws: `SocketAddressError` for an unresolvable host, `SocketError` when binding fails.
    public init(
        group: EventLoopGroup,
        configuration: Configuration,
        makeHandler: @escaping @Sendable () -> any ConnectionHandler
    ) throws {
        self.group = group
        let address = try SocketAddress(host: configuration.host, port: configuration.port)
        let states = group.loops.map { ServerLoopState(eventLoop: $0, configuration: configuration, makeHandler: makeHandler) }
        self.loopStates = states

        // Bind every socket here, so that errors reach the caller; the loops
        // then register them.
        var boundFDs: [Int32] = []
        let listenerCount = configuration.acceptMode == .listenerPerLoop ? states.count : 1
        do {
            var boundAddress = address
            for _ in 0..<listenerCount {
                let fd = try Sockets.makeListeningSocket(
                    address: boundAddress, reusePort: configuration.acceptMode == .listenerPerLoop,
                    backlog: configuration.backlog)
                boundFDs.append(fd)
                if boundAddress.port == 0 {
                    // The other sockets must share the port the kernel picked for the first.
                    boundAddress = boundAddress.withPort(try Sockets.localAddress(fd).port)
                }
            }
            localAddress = try Sockets.localAddress(boundFDs[0])
        } catch {
            for fd in boundFDs { close(fd) }
            throw error
        }

        logger = Logger(label: "sluice.net").with("address", localAddress.description)
        for (index, fd) in boundFDs.enumerated() {
            let state = states[index]
            let distributeTo: [ServerLoopState]? = configuration.acceptMode == .singleListener ? states : nil
            state.eventLoop.execute {
                state.startListening(fd: fd, distributeTo: distributeTo)
            }
        }
        logger.info(
            "server listening",
            [("loops", group.loops.count), ("accept_mode", String(describing: configuration.acceptMode))])
    }

    /// Shuts down gracefully: stops accepting, calls `connectionShouldQuiesce`
    /// on every connection's handler, waits up to `grace`
    /// for the connections to close, closes the rest, then calls
    /// `completion` (on a loop thread). Calling it again only adds a completion.
    public func shutdown(grace: Duration, completion: @escaping @Sendable () -> Void = {}) {
        enum Step { case alreadyFinished, alreadyStarted, start }
        let step: Step = shutdownState.withLock { state in
            if state.finished { return .alreadyFinished }
            state.completions.append(completion)
            if state.started { return .alreadyStarted }
            state.started = true
            state.remainingLoops = loopStates.count
            return .start
        }
        switch step {
        case .alreadyFinished:
            completion()
            return
        case .alreadyStarted:
            return
        case .start:
            break
        }

        logger.info("server shutting down", [("grace_ms", Int(grace / .milliseconds(1)))])
        for state in loopStates {
            state.eventLoop.execute { [self] in
                state.beginShutdown(grace: grace) {
                    self.loopFinishedShutdown()
                }
            }
        }
    }

    /// Shuts down gracefully and returns when every connection is closed; see `shutdown(grace:completion:)`.
    public func shutdown(grace: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            shutdown(grace: grace) { continuation.resume() }
        }
    }

    /// Number of open connections, summed over the loops. Reads each loop's
    /// counter without stopping it, so the sum may be stale by a few connections.
    public var openConnectionCount: Int {
        loopStates.reduce(0) { $0 + $1.openCount.load(ordering: .relaxed) }
    }

    /// Open connections per loop, for tests.
    var loopConnectionCounts: [Int] {
        loopStates.map { $0.openCount.load(ordering: .relaxed) }
    }

    private func loopFinishedShutdown() {
        let completions: [@Sendable () -> Void]? = shutdownState.withLock { state in
            state.remainingLoops -= 1
            guard state.remainingLoops == 0 else { return nil }
            state.finished = true
            defer { state.completions = [] }
            return state.completions
        }
        guard let completions else { return }
        logger.info("server stopped")
        for completion in completions {
            completion()
        }
    }
}

/// The part of a server that lives on one loop: its listener (if any) and
/// the connections the loop owns.
final class ServerLoopState: @unchecked Sendable {
    // Safe to share: created before any loop can reach it, after which everything
    // but `openCount` (an Atomic) is touched only on `eventLoop`'s thread.

    let eventLoop: EventLoop
    let openCount = Atomic<Int>(0)
    private let configuration: TCPServer.Configuration
    private let makeHandler: @Sendable () -> any ConnectionHandler
    private let logger: Logger
    private var listener: TCPListener?
    private var connections: [Connection] = []
    private var isShuttingDown = false
    private var graceTimer: TimerHandle?
    private var onShutdownFinished: (() -> Void)?
    private var nextTarget = 0

    private static let accepted = MetricsRegistry.shared.counter(
        "sluice_net_connections_accepted_total", help: "TCP connections accepted")
    private static let open = MetricsRegistry.shared.gauge(
        "sluice_net_connections_open", help: "TCP connections currently open")

    init(
        eventLoop: EventLoop, configuration: TCPServer.Configuration,
        makeHandler: @escaping @Sendable () -> any ConnectionHandler
    ) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.makeHandler = makeHandler
        self.logger = Logger(label: "sluice.net").with("loop", String(eventLoop.index))
    }

    /// Registers the bound socket `fd` on this loop. With `distributeTo`,
    /// accepted sockets go round-robin to those loops; otherwise they stay here.
    func startListening(fd: Int32, distributeTo targets: [ServerLoopState]?) {
        if isShuttingDown {
            close(fd)
            return
        }
        do {
            let listener = try TCPListener(adopting: fd, eventLoop: eventLoop) { socket in
                guard let targets else {
                    self.adopt(socket)
                    return
                }
                let target = targets[self.nextTarget]
                self.nextTarget = (self.nextTarget + 1) % targets.count
                if target === self {
                    self.adopt(socket)
                } else {
                    target.eventLoop.execute { target.adopt(socket) }
                }
            }
            try listener.start()
            self.listener = listener
        } catch {
            logger.error("listener could not start", [("error", error)])
        }
    }

    /// Turns an accepted socket into a connection owned by this loop.
    func adopt(_ socket: AcceptedSocket) {
        guard !isShuttingDown else {
            socket.close()
            return
        }
        let connection = Connection(
            fd: socket.fd, remoteAddress: socket.remoteAddress, eventLoop: eventLoop, handler: makeHandler())
        connection.highWaterMark = configuration.highWaterMark
        connection.lowWaterMark = configuration.lowWaterMark
        connection.writeTimeout = configuration.writeTimeout
        connection.lingerTimeout = configuration.lingerTimeout
        connection.serverSlot = connections.count
        // The observer keeps this state alive as long as the connection is open.
        connection.closeObserver = { connection in
            self.remove(connection)
        }
        connections.append(connection)
        openCount.add(1, ordering: .relaxed)
        Self.accepted.increment()
        Self.open.increment()

        do {
            try connection.start()
        } catch {
            logger.warning("connection could not be registered", [("error", error)])
            connection.abort()
        }
    }

    private func remove(_ connection: Connection) {
        let slot = connection.serverSlot
        guard slot >= 0, slot < connections.count, connections[slot] === connection else { return }
        let last = connections.removeLast()
        if slot < connections.count {
            connections[slot] = last
            last.serverSlot = slot
        }
        connection.serverSlot = -1
        openCount.subtract(1, ordering: .relaxed)
        Self.open.decrement()
        if isShuttingDown && connections.isEmpty {
            finishShutdown()
        }
    }

    /// Stops accepting, calls `connectionShouldQuiesce` on every connection,
    /// and closes what is left after `grace`. Calls `finished` once no
    /// connection is left.
    func beginShutdown(grace: Duration, finished: @escaping () -> Void) {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        onShutdownFinished = finished
        listener?.close()
        listener = nil

        if connections.isEmpty {
            finishShutdown()
            return
        }
        logger.info("waiting for connections to finish", [("connections", connections.count)])
        graceTimer = eventLoop.scheduleTimer(after: grace) {
            self.graceTimer = nil
            guard !self.connections.isEmpty else { return }
            self.logger.info("grace period over, closing connections", [("connections", self.connections.count)])
            for connection in self.connections {
                connection.abort(.shutdown)
            }
        }
        // Quiescing may close connections, which edits the list.
        for connection in connections {
            connection.handler.connectionShouldQuiesce(connection)
        }
    }

    private func finishShutdown() {
        if let graceTimer {
            eventLoop.cancelTimer(graceTimer)
        }
        graceTimer = nil
        let finished = onShutdownFinished
        onShutdownFinished = nil
        finished?()
    }
}
