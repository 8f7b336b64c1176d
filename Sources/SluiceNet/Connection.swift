import CSystem

#if canImport(Glibc)
import Glibc
#endif

/// One accepted TCP connection, owned by one event loop for its whole life.
///
/// The connection reads into its loop's shared buffer and hands the bytes to
/// its `ConnectionHandler`. Output is copied into a per-connection buffer and
/// written at the end of the loop's turn with one gathered `sendmsg`, so
/// everything a handler writes during one turn leaves in one system call.
/// `EPOLLOUT` is watched only while output is blocked.
///
/// Every method must be called on `eventLoop`'s thread.
///
/// NOTE: TLS is not built yet. A TLS layer (OpenSSL over memory BIOs) would
/// decrypt in `readFromSocket` before `connectionDidRead` and encrypt in the
/// `write` methods, so handlers would not change.
public final class Connection {
    private enum State {
        /// Reading and writing.
        case open
        /// `close()` was called: buffered output is being written; input is discarded.
        case closingAfterFlush
        /// Output is written and the write side shut down. Input is discarded until
        /// the peer closes or `lingerTimeout` passes. Closing a socket with unread
        /// input makes the kernel send a reset, which can destroy the response
        /// before the peer reads it; lingering avoids that.
        case lingering
        case closed
    }

    /// The loop that owns this connection.
    public let eventLoop: EventLoop
    /// The peer's address, when the system reported one.
    public let remoteAddress: SocketAddress?
    let fd: Int32

    /// The protocol logic that receives this connection's events.
    public private(set) var handler: any ConnectionHandler

    /// Buffered output at or above which `isWritable` becomes false.
    public var highWaterMark = 256 * 1024
    /// Buffered output at or below which `isWritable` becomes true again.
    public var lowWaterMark = 64 * 1024
    /// How long output may stay blocked without progress before the
    /// connection is closed with `ConnectionError.writeTimeout`; nil disables it.
    public var writeTimeout: Duration? = .seconds(30)
    /// How long `close()` keeps reading and discarding input after the
    /// output is written, waiting for the peer to close.
    public var lingerTimeout: Duration = .seconds(2)
    /// Most input bytes discarded while closing before the connection is closed at once.
    static let maxDiscardedBytes = 1 << 20

    /// Whether buffered output is below the high-water mark (with hysteresis
    /// down to the low-water mark). Handlers that produce output without
    /// bound should wait for `connectionWritabilityDidChange` when false.
    public private(set) var isWritable = true

    /// When output last made progress while blocked; meaningful only while
    /// output is blocked.
    public private(set) var lastWriteProgress = MonotonicInstant(nanoseconds: 0)

    private var state = State.open
    private var output = OutboundBuffer()
    private var isReadingPaused = false
    private var isFlushScheduled = false
    private var isWaitingForWritable = false
    private var registeredEvents: UInt32 = 0
    private var writeTimer: TimerHandle?
    private var lingerTimer: TimerHandle?
    private var discardedBytes = 0

    /// Called once when the connection stops serving: when it starts
    /// lingering after `close()`, or when the descriptor closes, whichever
    /// comes first. Servers use it to track open connections, so a graceful
    /// shutdown does not wait for peers that keep lingering connections open.
    var closeObserver: ((Connection) -> Void)?
    /// Position in the owning server's connection list.
    var serverSlot = -1

    /// Wraps an accepted, non-blocking socket. Call `start()` to begin reading.
    init(fd: Int32, remoteAddress: SocketAddress?, eventLoop: EventLoop, handler: any ConnectionHandler) {
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.eventLoop = eventLoop
        self.handler = handler
    }

    /// Whether the connection still reads and accepts output (`close()` not called, not closed).
    public var isOpen: Bool { state == .open }

    /// Bytes written by the handler and not yet taken by the kernel.
    public var bufferedOutboundBytes: Int { output.count }

    /// Registers the socket with the loop and installs the handler.
    func start() throws {
        eventLoop.preconditionInEventLoop()
        registeredEvents = Self.readEvents
        try eventLoop.register(fd, events: registeredEvents, target: self)
        handler.handlerAdded(to: self)
    }

    /// Replaces the handler; the new one gets `handlerAdded(to:)` at once and
    /// every later event.
    public func setHandler(_ newHandler: any ConnectionHandler) {
        eventLoop.preconditionInEventLoop()
        handler = newHandler
        newHandler.handlerAdded(to: self)
    }

    // MARK: Reading

    private static let readEvents = csystem_epollin() | csystem_epollrdhup()

    /// Stops reading from the socket until `resumeReading()`. The peer's data
    /// waits in the kernel, so its sending stalls once the buffers fill.
    /// A peer that closes while reading is paused is still detected.
    public func pauseReading() {
        guard !isReadingPaused else { return }
        isReadingPaused = true
        updateRegisteredEvents()
    }

    /// Resumes reading after `pauseReading()`.
    public func resumeReading() {
        guard isReadingPaused else { return }
        isReadingPaused = false
        updateRegisteredEvents()
    }

    private func readFromSocket() {
        let buffer = eventLoop.readBuffer
        var reads = 0
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count > 0 {
                guard state == .open else {
                    discardedBytes += count
                    if discardedBytes > Self.maxDiscardedBytes {
                        finalClose(nil)
                        return
                    }
                    continue
                }
                handler.connectionDidRead(self, bytes: UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
                reads += 1
                // Level-triggered epoll reports what is left, so a short read
                // or a few full ones end this turn's reading and let other
                // connections run.
                guard state == .open, !isReadingPaused, count == buffer.count, reads < 4 else { return }
                continue
            }
            if count == 0 {
                finalClose(state == .open ? .endOfInput : nil)
                return
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return }
            finalClose(ConnectionError.fromErrno(code, operation: "read"))
            return
        }
    }

    // MARK: Writing

    /// Copies `bytes` into the output buffer; they are written at the end of
    /// this loop turn. Does nothing once `close()` was called.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard state == .open else { return }
        output.append(bytes, pool: eventLoop.chunkPool)
        didAppendOutput()
    }

    /// Copies `bytes` into the output buffer; see `write(_:)`.
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Lets `body` write up to `maximumByteCount` bytes straight into the
    /// output buffer, saving a copy; `body` returns how many bytes it wrote.
    public func write(maximumByteCount: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        guard state == .open else { return }
        output.append(maximumCount: maximumByteCount, pool: eventLoop.chunkPool, body)
        didAppendOutput()
    }

    private func didAppendOutput() {
        if !isFlushScheduled && !isWaitingForWritable {
            isFlushScheduled = true
            eventLoop.scheduleFlush(self)
        }
        if isWritable && output.count >= highWaterMark {
            isWritable = false
            handler.connectionWritabilityDidChange(self)
        }
    }

    /// Writes buffered output; called by the loop at the end of a turn.
    func flushScheduledOutput() {
        isFlushScheduled = false
        guard state == .open || state == .closingAfterFlush, !isWaitingForWritable else { return }
        writeToSocket()
    }

    private func writeToSocket() {
        while !output.isEmpty {
            let before = output.count
            let result = output.send(
                to: fd, iovecs: eventLoop.iovecs, maxIOVecCount: EventLoop.maxIOVecCount, pool: eventLoop.chunkPool)
            if result > 0 {
                if isWaitingForWritable { lastWriteProgress = .now() }
                // A short write means the socket buffer is full; waiting for
                // EPOLLOUT is cheaper than a second call that returns EAGAIN.
                if result < before && !output.isEmpty { break }
                continue
            }
            let code = Int32(-result)
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { break }
            finalClose(ConnectionError.fromErrno(code, operation: "sendmsg"))
            return
        }

        if output.isEmpty {
            if isWaitingForWritable {
                isWaitingForWritable = false
                updateRegisteredEvents()
            }
        } else if !isWaitingForWritable {
            isWaitingForWritable = true
            lastWriteProgress = .now()
            updateRegisteredEvents()
            armWriteTimer()
        }

        if !isWritable && output.count <= lowWaterMark && state == .open {
            isWritable = true
            handler.connectionWritabilityDidChange(self)
        }
        if state == .closingAfterFlush && output.isEmpty {
            beginLingering()
        }
    }

    private func armWriteTimer() {
        guard let writeTimeout, writeTimer == nil else { return }
        // Strong captures here and below: `finalClose` cancels both timers, and
        // a weak reference would make every later retain of the connection slower.
        writeTimer = eventLoop.scheduleTimer(at: lastWriteProgress + writeTimeout) {
            self.writeTimerFired()
        }
    }

    private func writeTimerFired() {
        writeTimer = nil
        guard state != .closed, isWaitingForWritable, let writeTimeout else { return }
        if MonotonicInstant.now() - lastWriteProgress >= writeTimeout {
            finalClose(.writeTimeout)
        } else {
            armWriteTimer()
        }
    }

    // MARK: Closing

    /// Closes the connection after its buffered output is written. Input that
    /// arrives meanwhile is discarded. The handler gets `connectionDidClose`
    /// with a nil error once the descriptor is closed (or with an error if a
    /// write fails first).
    public func close() {
        guard state == .open else { return }
        state = .closingAfterFlush
        isReadingPaused = false
        updateRegisteredEvents()
        if output.isEmpty {
            beginLingering()
        } else if !isFlushScheduled && !isWaitingForWritable {
            isFlushScheduled = true
            eventLoop.scheduleFlush(self)
        }
    }

    /// Closes the connection at once, dropping buffered output.
    public func abort() {
        finalClose(nil)
    }

    /// Closes the connection at once and reports `error` to the handler.
    func abort(_ error: ConnectionError) {
        finalClose(error)
    }

    private func beginLingering() {
        guard state == .closingAfterFlush else { return }
        state = .lingering
        guard lingerTimeout > .zero, shutdown(fd, Int32(SHUT_WR)) == 0 else {
            finalClose(nil)
            return
        }
        lingerTimer = eventLoop.scheduleTimer(after: lingerTimeout) {
            self.lingerTimer = nil
            self.finalClose(nil)
        }
        notifyCloseObserver()
    }

    private func notifyCloseObserver() {
        let observer = closeObserver
        closeObserver = nil
        observer?(self)
    }

    private func finalClose(_ error: ConnectionError?) {
        guard state != .closed else { return }
        state = .closed
        if let writeTimer { eventLoop.cancelTimer(writeTimer) }
        if let lingerTimer { eventLoop.cancelTimer(lingerTimer) }
        writeTimer = nil
        lingerTimer = nil
        eventLoop.deregister(fd)
        Glibc.close(fd)
        output.removeAll(pool: eventLoop.chunkPool)

        handler.connectionDidClose(self, error: error)
        notifyCloseObserver()
    }

    private func updateRegisteredEvents() {
        guard state != .closed else { return }
        var events = csystem_epollrdhup()
        if !isReadingPaused || state != .open { events |= csystem_epollin() }
        if isWaitingForWritable { events |= csystem_epollout() }
        guard events != registeredEvents else { return }
        registeredEvents = events
        do {
            try eventLoop.modify(fd, events: events)
        } catch let error as SocketError {
            finalClose(.system(error))
        } catch {
            finalClose(.reset)
        }
    }
}

extension Connection: EventLoopSelectable {
    func handleEvents(_ events: UInt32) {
        if events & csystem_epollerr() != 0 {
            let code = Sockets.pendingError(fd)
            finalClose(code == 0 ? .reset : ConnectionError.fromErrno(code, operation: "socket"))
            return
        }

        if events & (csystem_epollin() | csystem_epollrdhup() | csystem_epollhup()) != 0 {
            if state == .open && isReadingPaused {
                // Only EPOLLRDHUP or EPOLLHUP can be reported while reading is
                // paused: the peer closed or reset the connection.
                finalClose(events & csystem_epollhup() != 0 ? .reset : .endOfInput)
                return
            }
            readFromSocket()
            guard state != .closed else { return }
        }

        if events & csystem_epollout() != 0 && isWaitingForWritable {
            writeToSocket()
            guard state != .closed else { return }
        }

        if events & csystem_epollhup() != 0 {
            finalClose(.reset)
        }
    }

    func closeBecauseLoopStopped() {
        finalClose(.shutdown)
    }
}

extension Connection: CustomStringConvertible {
    public var description: String {
        "Connection(fd: \(fd), peer: \(remoteAddress.map { $0.description } ?? "unknown"))"
    }
}
