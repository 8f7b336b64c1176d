import CSystem
import SluiceCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A descriptor registered with an event loop's epoll set.
protocol EventLoopSelectable: AnyObject {
    /// Handles the readiness `events` (an `EPOLL*` mask) reported for the descriptor.
    func handleEvents(_ events: UInt32)

    /// Closes the descriptor because its loop is stopping.
    func closeBecauseLoopStopped()
}

/// One thread that waits in `epoll_wait` and runs everything that belongs to
/// it: socket events, timers, tasks handed over by other threads, and the
/// flushing of connections' output.
///
/// Every connection, listener and timer belongs to one loop for its whole
/// life, and only that loop's thread touches it. Other threads hand work to
/// the loop with `execute(_:)`, which queues the work under a lock and wakes
/// the loop through an eventfd.
///
/// One turn of the loop: wait for events (no longer than until the next
/// timer), handle them, run expired timers, run queued tasks, then write the
/// output that connections buffered during the turn, one `sendmsg` per
/// connection.
public final class EventLoop: EventExecutor, @unchecked Sendable {
    // Safe to share: the task queue is behind a Mutex, the flags are Atomic,
    // the file descriptors are immutable, and every `var` below them is
    // touched only on the loop's own thread (checked by
    // `preconditionInEventLoop` in debug builds).

    /// Position of this loop in its group, used in thread names and logs.
    public let index: Int

    let epollFD: Int32
    private let wakeFD: Int32
    private let remoteTasks = Mutex<[@Sendable () -> Void]>([])
    /// Number of tasks other threads queued that the loop has not yet started.
    private let remoteTaskCount = Atomic<Int>(0)
    /// Whether the loop is in, or about to enter, an `epoll_wait` that may block.
    private let sleeping = Atomic<Bool>(false)
    private let wakeupPending = Atomic<Bool>(false)
    private let stopRequested = Atomic<Bool>(false)
    private let thread = Mutex<pthread_t?>(nil)
    /// Number of eventfd writes made to wake this loop, for tests of wake-up batching.
    let wakeupWriteCount = Atomic<Int>(0)
    private let logger: Logger

    // Loop-confined state.
    /// Number of turns run so far, for tests that check an idle loop sleeps.
    private(set) var turnCount = 0
    private var localTasks: [() -> Void] = []
    private var runningLocalTasks: [() -> Void] = []
    private var turnEndTasks: [() -> Void] = []
    private var runningTurnEndTasks: [() -> Void] = []
    private var runningRemoteTasks: [@Sendable () -> Void] = []
    private var timers = TimerHeap()
    private var registrations: [Registration?] = []
    private var nextGeneration: UInt32 = 1
    private var connectionsToFlush: [Connection] = []
    private var flushingConnections: [Connection] = []
    private let events: UnsafeMutablePointer<epoll_event>
    private let eventCapacity = 256

    /// Scratch memory that connections read into; its contents are valid only
    /// during one `connectionDidRead` call.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Scratch `iovec` array for gathered writes, `maxIOVecCount` long.
    let iovecs: UnsafeMutablePointer<iovec>
    /// Reusable output chunks for this loop's connections.
    let chunkPool = ChunkPool()

    /// Largest number of buffers one `sendmsg` gathers (Linux's `IOV_MAX`).
    static let maxIOVecCount = 1024
    /// Bytes of the per-loop read buffer.
    static let readBufferSize = 64 * 1024

    private struct Registration {
        var generation: UInt32
        var target: any EventLoopSelectable
    }

    /// The epoll key of the wake-up eventfd; registrations use generation << 32 | fd.
    private static let wakeKey = UInt64.max

    /// Creates a loop without starting its thread; `EventLoopGroup` starts it.
    init(index: Int) throws {
        self.index = index
        self.logger = Logger(label: "sluice.net").with("loop", String(index))

        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SocketError.lastError("epoll_create1") }
        let wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            let error = SocketError.lastError("eventfd")
            close(epollFD)
            throw error
        }
        var event = epoll_event()
        event.events = csystem_epollin()
        event.data.u64 = Self.wakeKey
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0 else {
            let error = SocketError.lastError("epoll_ctl")
            close(epollFD)
            close(wakeFD)
            throw error
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD

        events = .allocate(capacity: eventCapacity)
        events.initialize(repeating: epoll_event(), count: eventCapacity)
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        iovecs = .allocate(capacity: Self.maxIOVecCount)
        iovecs.initialize(repeating: iovec(), count: Self.maxIOVecCount)
    }

    deinit {
        events.deallocate()
        readBuffer.deallocate()
        iovecs.deallocate()
    }

    // MARK: Threads

    /// The event loop that owns the calling thread, or nil on other threads.
    public static var current: EventLoop? {
        guard let pointer = csystem_current_event_loop() else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Whether the calling thread is this loop's thread.
    public var inEventLoop: Bool {
        csystem_current_event_loop() == Unmanaged.passUnretained(self).toOpaque()
    }

    public var inExecutor: Bool { inEventLoop }

    /// Stops the program in debug builds when called off this loop's thread.
    /// Release builds check nothing.
    @inlinable
    public func preconditionInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inEventLoop, "called off its event loop's thread", file: file, line: line)
    }

    /// Starts the loop's thread.
    func start() throws {
        let retained = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { argument in
            let loop = Unmanaged<EventLoop>.fromOpaque(argument!).takeRetainedValue()
            loop.run()
            return nil
        }, retained)
        guard result == 0 else {
            Unmanaged<EventLoop>.fromOpaque(retained).release()
            throw SocketError("pthread_create", code: result)
        }
        thread.withLock { $0 = handle }
    }

    /// Asks the loop to stop after its current turn and waits for its thread
    /// to end. Every descriptor still registered is closed, and tasks queued
    /// after the stop are dropped. Must not be called on this loop's thread.
    func stopAndJoin() {
        precondition(!inEventLoop, "an event loop cannot wait for its own thread to end")
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        wake()
        if let handle = thread.withLock({ state -> pthread_t? in
            defer { state = nil }
            return state
        }) {
            pthread_join(handle, nil)
        }
    }

    private func run() {
        csystem_set_current_event_loop(Unmanaged.passUnretained(self).toOpaque())
        csystem_set_thread_name("sluice-loop-\(index)")
        logger.debug("event loop started", [("tid", csystem_gettid())])

        while !stopRequested.load(ordering: .relaxed) {
            runOneTurn()
        }

        closeAllRegistrations()
        close(wakeFD)
        close(epollFD)
        csystem_set_current_event_loop(nil)
        logger.debug("event loop stopped")
    }

    private func runOneTurn() {
        turnCount &+= 1
        var timeout = nextTimeoutMilliseconds()
        if timeout != 0 {
            // Announce the sleep, then look for tasks once more. A thread that
            // queues a task either reads `sleeping` as set and writes the
            // eventfd, or queued the task before this check, which finds it.
            sleeping.store(true, ordering: .sequentiallyConsistent)
            if remoteTaskCount.load(ordering: .sequentiallyConsistent) > 0 { timeout = 0 }
        }
        let count = epoll_wait(epollFD, events, Int32(eventCapacity), timeout)
        sleeping.store(false, ordering: .relaxed)
        if count < 0 {
            let code = errno
            guard code == EINTR else {
                fatalError("epoll_wait failed: \(SocketError("epoll_wait", code: code))")
            }
            return
        }

        var woken = false
        for position in 0..<Int(count) {
            let event = events[position]
            let key = event.data.u64
            if key == Self.wakeKey {
                woken = true
                continue
            }
            let fd = Int(UInt32(truncatingIfNeeded: key))
            let generation = UInt32(truncatingIfNeeded: key >> 32)
            guard fd < registrations.count, let registration = registrations[fd],
                registration.generation == generation
            else {
                // The descriptor was closed earlier in this turn.
                continue
            }
            registration.target.handleEvents(event.events)
        }

        runExpiredTimers()
        if woken {
            var counter: UInt64 = 0
            _ = read(wakeFD, &counter, 8)
            wakeupPending.store(false, ordering: .sequentiallyConsistent)
        }
        if woken || remoteTaskCount.load(ordering: .relaxed) > 0 {
            runRemoteTasks()
        }
        runLocalTasks()
        if !turnEndTasks.isEmpty {
            runTurnEndTasks()
            // Work that turn-end tasks handed to this loop runs in this turn.
            // Remote tasks go first because they were queued earlier.
            if remoteTaskCount.load(ordering: .relaxed) > 0 { runRemoteTasks() }
            runLocalTasks()
        }
        flushConnections()
    }

    private func nextTimeoutMilliseconds() -> Int32 {
        if !localTasks.isEmpty || !connectionsToFlush.isEmpty { return 0 }
        guard let deadline = timers.nextDeadline() else { return -1 }
        let now = MonotonicInstant.now().nanoseconds
        guard deadline > now else { return 0 }
        // Round up so the loop never wakes just before the deadline and spins.
        let milliseconds = (deadline - now + 999_999) / 1_000_000
        return Int32(clamping: milliseconds)
    }

    // MARK: Tasks

    /// Runs `work` on this loop's thread after work submitted earlier.
    ///
    /// From another thread this takes a lock. It writes the eventfd only when
    /// the loop sleeps (or is about to) and has not been woken since. A busy
    /// loop finds the work at the end of its turn, and a burst of submissions
    /// costs at most one wake-up. On the loop's own thread it
    /// queues the work without a lock, to run before the loop sleeps again.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop {
            localTasks.append(work)
            return
        }
        remoteTasks.withLock { $0.append(work) }
        remoteTaskCount.add(1, ordering: .sequentiallyConsistent)
        if sleeping.load(ordering: .sequentiallyConsistent)
            && !wakeupPending.exchange(true, ordering: .sequentiallyConsistent)
        {
            wake()
        }
    }

    /// Queues `work` to run later in this turn (or at the start of the next),
    /// on this loop's thread. Only callable on the loop's thread, which is why
    /// `work` need not be `Sendable`.
    public func executeSoon(_ work: @escaping () -> Void) {
        preconditionInEventLoop()
        localTasks.append(work)
    }

    private func wake() {
        wakeupWriteCount.add(1, ordering: .relaxed)
        var one: UInt64 = 1
        // EAGAIN means the counter is already non-zero, so the loop will wake anyway.
        _ = write(wakeFD, &one, 8)
    }

    private func runRemoteTasks() {
        let taken = remoteTasks.withLock { queue in
            swap(&queue, &runningRemoteTasks)
            return runningRemoteTasks.count
        }
        remoteTaskCount.subtract(taken, ordering: .relaxed)
        for task in runningRemoteTasks {
            task()
        }
        runningRemoteTasks.removeAll(keepingCapacity: true)
    }

    /// Queues `work` to run at the end of this turn, after the turn's events
    /// and tasks and before buffered output is written. Tasks that `work`
    /// queues on this loop still run in this turn. Only callable on the
    /// loop's thread.
    public func executeAtTurnEnd(_ work: @escaping () -> Void) {
        preconditionInEventLoop()
        turnEndTasks.append(work)
    }

    private func runTurnEndTasks() {
        // Work queued by these tasks runs in the next pass, within this turn.
        while !turnEndTasks.isEmpty {
            swap(&turnEndTasks, &runningTurnEndTasks)
            for task in runningTurnEndTasks {
                task()
            }
            runningTurnEndTasks.removeAll(keepingCapacity: true)
        }
    }

    private func runLocalTasks() {
        // Tasks queued while these run wait for the next turn, so a task that
        // queues itself cannot starve I/O.
        swap(&localTasks, &runningLocalTasks)
        for task in runningLocalTasks {
            task()
        }
        runningLocalTasks.removeAll(keepingCapacity: true)
    }

    // MARK: Timers

    /// Calls `callback` on this loop's thread at `deadline` (or in the first
    /// turn after it). Only callable on the loop's thread.
    @discardableResult
    public func scheduleTimer(at deadline: MonotonicInstant, _ callback: @escaping () -> Void) -> TimerHandle {
        preconditionInEventLoop()
        return timers.schedule(deadline: deadline.nanoseconds, callback)
    }

    /// Calls `callback` on this loop's thread once `delay` has passed. Only
    /// callable on the loop's thread.
    @discardableResult
    public func scheduleTimer(after delay: Duration, _ callback: @escaping () -> Void) -> TimerHandle {
        scheduleTimer(at: .now() + delay, callback)
    }

    /// Cancels a timer that has not fired yet; otherwise does nothing. Only
    /// callable on the loop's thread.
    public func cancelTimer(_ handle: TimerHandle) {
        preconditionInEventLoop()
        timers.cancel(handle)
    }

    /// Number of timers scheduled and not yet fired or cancelled.
    var pendingTimerCount: Int { timers.count }

    private func runExpiredTimers() {
        let now = MonotonicInstant.now().nanoseconds
        let idLimit = timers.nextID
        while let callback = timers.popExpired(now: now, idLimit: idLimit) {
            callback()
        }
    }

    // MARK: Registrations

    /// Adds `fd` to the epoll set with the `EPOLL*` mask `events`; `target`
    /// handles its events until `deregister`.
    func register(_ fd: Int32, events: UInt32, target: any EventLoopSelectable) throws {
        preconditionInEventLoop()
        let generation = nextGeneration
        nextGeneration = nextGeneration == .max ? 1 : nextGeneration + 1

        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            throw SocketError.lastError("epoll_ctl(EPOLL_CTL_ADD)")
        }

        let slot = Int(fd)
        if slot >= registrations.count {
            let newCount = max(slot + 1, registrations.count * 2)
            registrations.append(contentsOf: repeatElement(nil, count: newCount - registrations.count))
        }
        registrations[slot] = Registration(generation: generation, target: target)
    }

    /// Replaces the event mask of a registered descriptor.
    func modify(_ fd: Int32, events: UInt32) throws {
        preconditionInEventLoop()
        guard let registration = registrations[Int(fd)] else { return }
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(registration.generation) << 32 | UInt64(UInt32(bitPattern: fd))
        guard epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event) == 0 else {
            throw SocketError.lastError("epoll_ctl(EPOLL_CTL_MOD)")
        }
    }

    /// Removes `fd` from the epoll set; call before closing it, because the
    /// number may be reused at once for a new descriptor.
    func deregister(_ fd: Int32) {
        preconditionInEventLoop()
        guard Int(fd) < registrations.count, registrations[Int(fd)] != nil else { return }
        registrations[Int(fd)] = nil
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
    }

    private func closeAllRegistrations() {
        for slot in registrations.indices {
            // Copy the target out first: closing it deregisters, which mutates the table.
            if let target = registrations[slot]?.target {
                target.closeBecauseLoopStopped()
            }
        }
        registrations.removeAll()
    }

    // MARK: Output

    /// Queues `connection` to write its buffered output at the end of this turn.
    func scheduleFlush(_ connection: Connection) {
        connectionsToFlush.append(connection)
    }

    private func flushConnections() {
        // Flushing can close a connection, whose handler may write to others;
        // those are queued again and flushed in the next pass.
        while !connectionsToFlush.isEmpty {
            swap(&connectionsToFlush, &flushingConnections)
            for connection in flushingConnections {
                connection.flushScheduledOutput()
            }
            flushingConnections.removeAll(keepingCapacity: true)
        }
    }
}

extension EventLoop: CustomStringConvertible {
    public var description: String { "EventLoop(\(index))" }
}
