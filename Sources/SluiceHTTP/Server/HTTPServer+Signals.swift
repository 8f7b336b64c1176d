import SluiceCore
import SluiceNet
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension HTTPServer {
    /// Serves until SIGINT or SIGTERM, then shuts down gracefully within
    /// `configuration.shutdownGrace` and returns.
    ///
    /// A second signal during the shutdown ends the process at once with the
    /// signal's default action, for an operator who does not want to wait.
    /// The handlers are restored to their defaults before this returns.
    /// - Parameter signals: the signals that start the shutdown.
    public func runUntilShutdownSignal(signals: [Int32] = [SIGINT, SIGTERM]) async throws {
        let logger = Logger(label: "sluice.http").with("address", localAddress.description)
        let signalCount = Atomic<Int>(0)
        let (stream, continuation) = AsyncStream<Int32>.makeStream()

        let watcher = try SignalWatcher(signals: signals, eventLoop: group.loops[0]) { signal in
            guard signalCount.add(1, ordering: .relaxed).newValue == 1 else {
                logger.warning("second shutdown signal received, exiting now", [("signal", signal)])
                SignalWatcher.raiseWithDefaultAction(signal)
                return
            }
            logger.info("shutdown signal received, stopping gracefully", [("signal", signal)])
            continuation.yield(signal)
        }

        for await _ in stream {
            break
        }
        // The watcher stays until the connections are closed, so a second
        // signal can still cut a slow shutdown short. It must stop before the
        // loops do, because it lives on one of them.
        await stopServing(grace: configuration.shutdownGrace)
        watcher.stop()
        stopLoopsIfOwned()
        logger.info("http server stopped")
    }
}
