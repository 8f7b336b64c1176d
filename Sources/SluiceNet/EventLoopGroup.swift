import CSystem
import Synchronization

/// A fixed set of event loops, one thread each, handed out round-robin.
public final class EventLoopGroup: Sendable {
    /// The loops, in index order.
    public let loops: [EventLoop]
    private let nextIndex = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)

    /// Number of CPUs this process may run on: the default number of loops.
    public static var defaultThreadCount: Int { Int(csystem_available_cpu_count()) }

    /// Starts `threads` event loops, each on its own thread.
    /// - Throws: `SocketError` when an epoll set, an eventfd or a thread cannot be created.
    public init(threads: Int = EventLoopGroup.defaultThreadCount) throws {
        precondition(threads > 0, "an event loop group needs at least one thread, got \(threads)")
        var loops: [EventLoop] = []
        do {
            for index in 0..<threads {
                let loop = try EventLoop(index: index)
                try loop.start()
                loops.append(loop)
            }
        } catch {
            for loop in loops {
                loop.stopAndJoin()
            }
            throw error
        }
        self.loops = loops
    }

    /// Returns the next loop in round-robin order. Safe to call from any thread.
    public func next() -> EventLoop {
        let index = nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[Int(UInt(bitPattern: index) % UInt(loops.count))]
    }

    /// Stops every loop and waits for their threads to end. Descriptors still
    /// open on a loop are closed (connections with `ConnectionError.shutdown`).
    /// Calling it again does nothing. Blocks the calling thread, so it must
    /// not run on one of the group's loops.
    public func shutdown() {
        guard !isShutDown.exchange(true, ordering: .sequentiallyConsistent) else { return }
        for loop in loops {
            loop.stopAndJoin()
        }
    }
}
