import CSystem
import SluiceCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Delivers process signals such as SIGINT and SIGTERM to a callback on an
/// event loop.
///
/// A C signal handler writes each signal's number as one byte to a
/// non-blocking pipe (the self-pipe technique), and the loop reads the pipe
/// like any socket. Unlike `signalfd`, this needs no signal mask on every
/// thread, so it works however the process started its threads. The handler
/// is process-wide, so only one watcher can exist at a time.
public final class SignalWatcher: Sendable {
    /// The loop that runs the callback.
    public let eventLoop: EventLoop
    /// The watched signal numbers.
    public let signals: [Int32]
    private let reader: SignalPipeReader
    private let isStopped = Atomic<Bool>(false)

    private static let isInstalled = Atomic<Bool>(false)
    /// Whether a watcher's handlers are in place, for tests that raise signals.
    static let isActive = Atomic<Bool>(false)

    /// Installs handlers for `signals`; `onSignal` then runs on `eventLoop`
    /// with the number of each signal received.
    /// - Throws: `SocketError` when the pipe or a handler cannot be set up,
    ///   or `EBUSY` when another watcher exists.
    public init(signals: [Int32], eventLoop: EventLoop, onSignal: @escaping @Sendable (Int32) -> Void) throws {
        guard !Self.isInstalled.exchange(true, ordering: .sequentiallyConsistent) else {
            throw SocketError("SignalWatcher.init (another watcher is installed)", code: EBUSY)
        }
        var fds: [Int32] = [-1, -1]
        guard csystem_pipe2(&fds, O_NONBLOCK | O_CLOEXEC) == 0 else {
            Self.isInstalled.store(false, ordering: .sequentiallyConsistent)
            throw SocketError.lastError("pipe2")
        }
        for signal in signals where csystem_install_signal_pipe(signal, fds[1]) != 0 {
            let error = SocketError.lastError("sigaction(\(signal))")
            for installed in signals {
                _ = csystem_restore_default_signal(installed)
            }
            close(fds[0])
            close(fds[1])
            Self.isInstalled.store(false, ordering: .sequentiallyConsistent)
            throw error
        }

        self.eventLoop = eventLoop
        self.signals = signals
        let reader = SignalPipeReader(
            readFD: fds[0], writeFD: fds[1], signals: signals, eventLoop: eventLoop, onSignal: onSignal)
        self.reader = reader
        eventLoop.execute {
            reader.start()
        }
        Self.isActive.store(true, ordering: .sequentiallyConsistent)
    }

    /// Restores the default action of the watched signals and closes the
    /// pipe; a new watcher may be created afterwards.
    public func stop() {
        guard !isStopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        Self.isActive.store(false, ordering: .sequentiallyConsistent)
        for signal in signals {
            _ = csystem_restore_default_signal(signal)
        }
        let reader = self.reader
        eventLoop.execute {
            reader.stop()
        }
        Self.isInstalled.store(false, ordering: .sequentiallyConsistent)
    }

    /// Restores the default action for `signal` and sends it to this process,
    /// which ends the process for signals such as SIGINT and SIGTERM.
    ///
    /// It uses `kill` on the process, not `raise`: `raise` targets the calling
    /// thread, and threads of Swift's task pool (and loops they start) may
    /// block the signal, leaving it pending forever.
    public static func raiseWithDefaultAction(_ signal: Int32) {
        _ = csystem_restore_default_signal(signal)
        kill(getpid(), signal)
    }
}

/// The read end of the signal pipe, registered with one loop.
final class SignalPipeReader: EventLoopSelectable, @unchecked Sendable {
    // Safe to share: created before the loop can reach it; after that every
    // property is touched only on `eventLoop`'s thread (through `execute`).

    private let readFD: Int32
    private let writeFD: Int32
    private let signals: [Int32]
    private let eventLoop: EventLoop
    private let onSignal: @Sendable (Int32) -> Void
    private let logger = Logger(label: "sluice.net")
    private var isOpen = true

    init(
        readFD: Int32, writeFD: Int32, signals: [Int32], eventLoop: EventLoop,
        onSignal: @escaping @Sendable (Int32) -> Void
    ) {
        self.readFD = readFD
        self.writeFD = writeFD
        self.signals = signals
        self.eventLoop = eventLoop
        self.onSignal = onSignal
    }

    func start() {
        do {
            try eventLoop.register(readFD, events: csystem_epollin(), target: self)
        } catch {
            logger.error("signal pipe could not be registered; signals will be missed", [("error", error)])
        }
    }

    func stop() {
        guard isOpen else { return }
        isOpen = false
        eventLoop.deregister(readFD)
        close(readFD)
        close(writeFD)
    }

    func handleEvents(_ events: UInt32) {
        var numbers = [UInt8](repeating: 0, count: 64)
        while isOpen {
            let count = numbers.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            guard count > 0 else { return }
            for number in numbers.prefix(count) {
                onSignal(Int32(number))
            }
        }
    }

    func closeBecauseLoopStopped() {
        // Detach the handlers first, so none writes to a closed descriptor
        // whose number the system may hand out again.
        for signal in signals {
            _ = csystem_restore_default_signal(signal)
        }
        stop()
    }
}
