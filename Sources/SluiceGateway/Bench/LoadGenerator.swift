#if canImport(Glibc)
import Glibc
#endif
import CSystem

/// A failed system call that keeps `sluice bench` from running.
public struct BenchSystemError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32

    public var description: String { "\(call) failed: \(String(cString: strerror(code))) (errno \(code))" }
}

/// The load of `sluice bench`: one thread, one epoll instance and `--concurrency`
/// non-blocking keep-alive connections, each sending the same request again as
/// soon as the previous response ends.
///
/// The run has three phases. Until the window ends (after the warm-up and the
/// measured duration), connections send requests, and a connection that closes
/// is replaced. Then no new request is sent, and the drain waits up to
/// `--drain` for the first tokens of requests sent inside the window. Last, the
/// remaining connections are closed. The clock is read once per batch of
/// readiness events, so tokens that arrive in one batch share a timestamp.
final class LoadGenerator {
    /// Wait before a failed connect is tried again.
    static let retryDelay: UInt64 = 50_000_000
    static let readBufferSize = 64 << 10

    private let options: BenchOptions
    private let request: BenchRequest
    private var slots: [ConnectionSlot]
    private var samples = BenchSamples()

    private let epollFD: Int32
    private let eventCapacity: Int
    private let events: UnsafeMutablePointer<epoll_event>
    private let readBuffer: UnsafeMutableRawBufferPointer

    /// The monotonic time of the current batch of events, in nanoseconds.
    private var now: UInt64 = 0
    private var windowStart: UInt64 = 0
    private var windowEnd: UInt64 = 0
    /// Set when the window ends: no new requests and no new connections.
    private var sendingStopped = false
    /// Set when the drain ends: sockets closed now are neither errors nor replaced.
    private var stopping = false
    private var finishedSlots = 0
    private var retryingSlots = 0

    /// - Throws: `BenchSystemError` when the epoll instance cannot be created.
    init(options: BenchOptions, request: BenchRequest) throws(BenchSystemError) {
        self.options = options
        self.request = request
        let disconnecting = options.disconnectingConnections
        slots = (0..<options.concurrency).map { index in
            ConnectionSlot(disconnectAfter: index < disconnecting ? options.disconnectAfter : nil)
        }

        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw BenchSystemError(call: "epoll_create1", code: errno) }
        self.epollFD = epollFD
        eventCapacity = min(max(options.concurrency, 16), 1024)
        events = .allocate(capacity: eventCapacity)
        events.initialize(repeating: epoll_event(), count: eventCapacity)
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        Self.raiseOpenFileLimit(toAtLeast: options.concurrency + 64)
    }

    deinit {
        for slot in slots where slot.fd >= 0 {
            close(slot.fd)
        }
        close(epollFD)
        events.deallocate()
        readBuffer.deallocate()
    }

    /// Runs the load to the end of the drain and returns the figures.
    func run() -> BenchResult {
        now = Self.monotonicNanoseconds()
        windowStart = now + Self.nanoseconds(options.warmup)
        windowEnd = windowStart + Self.nanoseconds(options.duration)
        for index in slots.indices {
            openConnection(index)
        }

        // Warm-up and measured window. The run ends early when every slot has
        // finished, which happens once the responses to --requests requests have ended.
        var everySlotFinished = false
        while true {
            if finishedSlots == slots.count {
                everySlotFinished = true
                break
            }
            if now >= windowEnd {
                break
            }
            waitForEvents(until: windowEnd)
        }
        let end = everySlotFinished ? (samples.lastCompletion ?? now) : windowEnd
        stopSending()

        // Drain: give requests sent in the window time to get their first
        // token, so that TTFT is not cut short for the requests sent last.
        let drainEnd = now + Self.nanoseconds(options.drain)
        while now < drainEnd && slots.contains(where: isAwaitingFirstToken) {
            waitForEvents(until: drainEnd)
        }
        stopping = true
        now = Self.monotonicNanoseconds()
        let censoredWaits = slots.filter(isAwaitingFirstToken).map { now - $0.sentAt }
        for index in slots.indices where slots[index].fd >= 0 {
            closeConnection(index, onPurpose: true)
        }

        let window = end > windowStart ? end - windowStart : 0
        return BenchResult(
            concurrency: options.concurrency, window: window, samples: samples, censoredWaits: censoredWaits)
    }

    // MARK: Event loop

    /// Waits for readiness events or the next deadline, whichever comes first, and handles what is due.
    private func waitForEvents(until deadline: UInt64) {
        let timeout = Self.timeoutMilliseconds(from: now, to: min(deadline, nextRetryDeadline()))
        let count = epoll_wait(epollFD, events, Int32(eventCapacity), timeout)
        if count < 0 && errno != EINTR {
            // Only a programming error (a bad descriptor or buffer) makes epoll_wait fail.
            fatalError("epoll_wait failed: \(BenchSystemError(call: "epoll_wait", code: errno))")
        }
        now = Self.monotonicNanoseconds()
        for position in 0..<max(Int(count), 0) {
            handle(events[position])
        }
        if retryingSlots > 0 {
            retryDueConnects()
        }
    }

    private func handle(_ event: epoll_event) {
        let key = event.data.u64
        let index = Int(UInt32(truncatingIfNeeded: key))
        let generation = UInt32(truncatingIfNeeded: key >> 32)
        guard index < slots.count, slots[index].generation == generation, slots[index].fd >= 0 else {
            // The socket was closed earlier in this batch.
            return
        }
        let flags = event.events
        switch slots[index].phase {
        case .connecting:
            finishConnect(index)
        case .open:
            if flags & csystem_epollout() != 0 && slots[index].unwrittenBytes > 0 {
                writeRequest(index)
                guard slots[index].generation == generation else { return }
            }
            let readable = csystem_epollin() | csystem_epollrdhup() | csystem_epollhup() | csystem_epollerr()
            if flags & readable != 0 {
                readResponse(index)
            }
        case .finished, .waitingToRetry:
            break
        }
    }

    /// Milliseconds until `deadline`, rounded up so that a wait never ends before it.
    static func timeoutMilliseconds(from now: UInt64, to deadline: UInt64) -> Int32 {
        guard deadline > now else { return 0 }
        let milliseconds = (deadline - now + 999_999) / 1_000_000
        return Int32(min(milliseconds, UInt64(Int32.max)))
    }

    // MARK: Connections

    private var maySend: Bool {
        guard !sendingStopped && !stopping else { return false }
        guard let maxRequests = options.maxRequests else { return true }
        return samples.requestsSent < maxRequests
    }

    private func isAwaitingFirstToken(_ slot: ConnectionSlot) -> Bool {
        slot.fd >= 0 && slot.requestInFlight && slot.tokens == 0 && isInWindow(slot.sentAt)
    }

    private func isInWindow(_ time: UInt64) -> Bool {
        windowStart <= time && time <= windowEnd
    }

    private func stopSending() {
        sendingStopped = true
        for index in slots.indices {
            if case .waitingToRetry = slots[index].phase {
                retryingSlots -= 1
                markFinished(index)
            }
        }
    }

    private func markFinished(_ index: Int) {
        slots[index].phase = .finished
        finishedSlots += 1
    }

    /// Starts a non-blocking connect; the socket reports writable when it completes.
    private func openConnection(_ index: Int) {
        let fd = socket(
            request.address.family,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            connectFailed(index, code: errno)
            return
        }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let status = request.address.withSocketAddress { address, length in connect(fd, address, length) }
        guard status == 0 || errno == EINPROGRESS else {
            let code = errno
            close(fd)
            connectFailed(index, code: code)
            return
        }

        slots[index].generation &+= 1
        slots[index].fd = fd
        slots[index].phase = .connecting
        slots[index].watchesWritable = true
        var event = epoll_event()
        event.events = csystem_epollout()
        event.data.u64 = slots[index].epollKey(index: index)
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            let code = errno
            slots[index].fd = -1
            close(fd)
            connectFailed(index, code: code)
            return
        }
    }

    private func finishConnect(_ index: Int) {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(slots[index].fd, SOL_SOCKET, SO_ERROR, &code, &length) != 0 {
            code = errno
        }
        guard code == 0 else {
            close(slots[index].fd)
            slots[index].fd = -1
            slots[index].generation &+= 1
            connectFailed(index, code: code)
            return
        }
        slots[index].phase = .open
        watch(index, writable: false)
        sendNextRequest(index)
    }

    /// Counts a failed connect and tries again after `retryDelay` while the run may still send.
    private func connectFailed(_ index: Int, code: Int32) {
        samples.countError(Self.connectErrorKind(code))
        guard maySend else {
            markFinished(index)
            return
        }
        slots[index].phase = .waitingToRetry(until: now + Self.retryDelay)
        retryingSlots += 1
    }

    private func nextRetryDeadline() -> UInt64 {
        guard retryingSlots > 0 else { return .max }
        var earliest = UInt64.max
        for slot in slots {
            if case .waitingToRetry(let until) = slot.phase {
                earliest = min(earliest, until)
            }
        }
        return earliest
    }

    private func retryDueConnects() {
        for index in slots.indices {
            guard case .waitingToRetry(let until) = slots[index].phase, until <= now else { continue }
            retryingSlots -= 1
            if maySend {
                openConnection(index)
            } else {
                markFinished(index)
            }
        }
    }

    static func connectErrorKind(_ code: Int32) -> String {
        switch code {
        case ECONNREFUSED: "connect_refused"
        case ETIMEDOUT: "connect_timed_out"
        case ENETUNREACH, EHOSTUNREACH: "connect_unreachable"
        case EADDRNOTAVAIL: "connect_address_unavailable"
        case EMFILE, ENFILE: "connect_too_many_open_files"
        case ECONNRESET: "connect_reset"
        default: "connect_errno_\(code)"
        }
    }

    /// Closes the slot's socket and opens a new one while the run may still send.
    /// - Parameter onPurpose: false when the server closed the connection or it failed, which counts as `connection_lost`.
    private func closeConnection(_ index: Int, onPurpose: Bool) {
        if !onPurpose && !stopping {
            samples.countError("connection_lost")
        }
        // Closing the only descriptor of the socket also removes it from the epoll instance.
        close(slots[index].fd)
        slots[index].fd = -1
        slots[index].generation &+= 1
        slots[index].requestInFlight = false
        slots[index].unwrittenBytes = 0
        slots[index].watchesWritable = false
        if maySend {
            openConnection(index)
        } else {
            markFinished(index)
        }
    }

    private func watch(_ index: Int, writable: Bool) {
        var event = epoll_event()
        event.events = csystem_epollin() | csystem_epollrdhup() | (writable ? csystem_epollout() : 0)
        event.data.u64 = slots[index].epollKey(index: index)
        if epoll_ctl(epollFD, EPOLL_CTL_MOD, slots[index].fd, &event) != 0 {
            // Only a programming error (a descriptor not in the set) makes this fail.
            fatalError("epoll_ctl failed: \(BenchSystemError(call: "epoll_ctl", code: errno))")
        }
        slots[index].watchesWritable = writable
    }

    // MARK: Requests and responses

    private func sendNextRequest(_ index: Int) {
        guard maySend else {
            closeConnection(index, onPurpose: true)
            return
        }
        slots[index].reader.reset()
        slots[index].requestInFlight = true
        slots[index].sentAt = now
        slots[index].tokens = 0
        slots[index].unwrittenBytes = request.bytes.count
        samples.requestsSent += 1
        writeRequest(index)
    }

    private func writeRequest(_ index: Int) {
        let fd = slots[index].fd
        let offset = request.bytes.count - slots[index].unwrittenBytes
        let written = request.bytes.withUnsafeBytes { bytes in
            // MSG_NOSIGNAL: a closed peer gives EPIPE instead of SIGPIPE.
            send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
        }
        if written >= 0 {
            slots[index].unwrittenBytes -= written
        } else if errno != EAGAIN && errno != EINTR {
            closeConnection(index, onPurpose: false)
            return
        }
        let pending = slots[index].unwrittenBytes > 0
        if pending != slots[index].watchesWritable {
            watch(index, writable: pending)
        }
    }

    private func readResponse(_ index: Int) {
        let count = read(slots[index].fd, readBuffer.baseAddress, readBuffer.count)
        if count > 0 {
            handleBytes(index, UnsafeRawBufferPointer(rebasing: readBuffer[..<count]))
        } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
            // The server closed the connection, or it failed (such as ECONNRESET).
            if slots[index].requestInFlight && slots[index].reader.finishAtEndOfInput() {
                finishResponse(index)
            } else {
                closeConnection(index, onPurpose: false)
            }
        }
    }

    private func handleBytes(_ index: Int, _ bytes: UnsafeRawBufferPointer) {
        guard slots[index].requestInFlight else {
            // Bytes with no request in flight: the server is out of step with the client.
            samples.countError("unexpected_data")
            closeConnection(index, onPurpose: true)
            return
        }
        let progress: HTTPResponseReader.Progress
        do {
            progress = try slots[index].reader.feed(bytes)
        } catch {
            samples.countError("invalid_response")
            closeConnection(index, onPurpose: true)
            return
        }
        if progress.tokens > 0 {
            let generation = slots[index].generation
            countTokens(index, progress.tokens)
            guard slots[index].generation == generation else { return }
        }
        if progress.isComplete {
            finishResponse(index)
        }
    }

    /// Counts `count` tokens that arrived in one read at `now`.
    private func countTokens(_ index: Int, _ arrived: Int) {
        var count = arrived
        if let disconnectAfter = slots[index].disconnectAfter {
            count = min(count, disconnectAfter - slots[index].tokens)
        }
        let inWindow = isInWindow(now)
        if inWindow {
            samples.tokensInWindow += count
        }

        let isFirst = slots[index].tokens == 0
        slots[index].tokens += count
        let gapsInWindow: Bool
        if isFirst {
            // Requests sent in the window count even when their first token arrives during the drain.
            if isInWindow(slots[index].sentAt) {
                samples.ttft.append(now - slots[index].sentAt)
            }
            gapsInWindow = inWindow
        } else {
            gapsInWindow = inWindow && slots[index].lastTokenAt >= windowStart
            if gapsInWindow {
                samples.itl.append(now - slots[index].lastTokenAt)
            }
        }
        if gapsInWindow {
            // The tokens after the first in one read arrived together: gaps of 0.
            samples.itlZeroGaps += count - 1
        }
        slots[index].lastTokenAt = now

        if let disconnectAfter = slots[index].disconnectAfter, slots[index].tokens >= disconnectAfter {
            samples.cancelled += 1
            closeConnection(index, onPurpose: true)
        }
    }

    private func finishResponse(_ index: Int) {
        let status = slots[index].reader.statusCode
        if status == 200 {
            samples.streamsTotal += 1
            samples.lastCompletion = now
            if isInWindow(now) {
                samples.streamsInWindow += 1
            }
        } else {
            samples.countError("http_\(status)")
        }
        slots[index].requestInFlight = false
        if slots[index].reader.keepAlive {
            sendNextRequest(index)
        } else {
            closeConnection(index, onPurpose: true)
        }
    }

    // MARK: System helpers

    static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Raises the soft limit on open files toward the hard limit, so that many connections fit.
    private static func raiseOpenFileLimit(toAtLeast needed: Int) {
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < rlim_t(needed) else { return }
        limit.rlim_cur = min(rlim_t(needed), limit.rlim_max)
        _ = setrlimit(resource, &limit)
    }
}
