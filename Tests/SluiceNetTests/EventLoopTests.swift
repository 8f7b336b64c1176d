import Dispatch
import Synchronization
import Testing

@testable import SluiceNet
import SluiceTestSupport

/// Runs `body` on `loop` and returns its result to the waiting test.
func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        loop.execute { continuation.resume(returning: body()) }
    }
}

@Suite("EventLoop")
struct EventLoopTests {
    @Test("execute runs work on the loop's thread")
    func executeRunsOnLoopThread() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]

        #expect(!loop.inEventLoop)
        let (inLoop, currentIsLoop) = await onLoop(loop) { (loop.inEventLoop, EventLoop.current === loop) }
        #expect(inLoop)
        #expect(currentIsLoop)
        #expect(EventLoop.current == nil)
    }

    @Test("tasks run in submission order")
    func tasksRunInOrder() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let seen = Mutex<[Int]>([])

        for value in 0..<1000 {
            loop.execute { seen.withLock { $0.append(value) } }
        }
        _ = await onLoop(loop) { 0 }
        #expect(seen.withLock { $0 } == Array(0..<1000))
    }

    @Test("turn-end work runs within the turn")
    func turnEndWorkRunsInSameTurn() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let seen = Mutex<[(String, Int)]>([])
        let done = DispatchSemaphore(value: 0)

        loop.execute {
            seen.withLock { $0.append(("task", loop.turnCount)) }
            loop.executeAtTurnEnd {
                seen.withLock { $0.append(("turn end", loop.turnCount)) }
                loop.execute {
                    seen.withLock { $0.append(("queued at turn end", loop.turnCount)) }
                    done.signal()
                }
            }
            loop.execute { seen.withLock { $0.append(("later task", loop.turnCount)) } }
        }
        done.wait()
        let events = seen.withLock { $0 }
        #expect(events.map(\.0) == ["task", "later task", "turn end", "queued at turn end"])
        // All in one turn: the loop did not sleep before running what the
        // turn-end work queued.
        #expect(Set(events.map(\.1)).count == 1)
    }

    @Test("burst of tasks costs at most one wake-up")
    func burstWakesOnce() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let blocker = DispatchSemaphore(value: 0)
        let blockerStarted = DispatchSemaphore(value: 0)

        loop.execute {
            blockerStarted.signal()
            blocker.wait()
        }
        blockerStarted.wait()
        let before = loop.wakeupWriteCount.load(ordering: .relaxed)
        let ran = Atomic<Int>(0)
        for _ in 0..<100 {
            loop.execute { ran.add(1, ordering: .relaxed) }
        }
        blocker.signal()
        #expect(await waitUntil { ran.load(ordering: .relaxed) == 100 })
        // The loop is busy in the blocking task, so it finds the burst at the
        // end of that turn: at most one eventfd write, none needed.
        #expect(loop.wakeupWriteCount.load(ordering: .relaxed) - before <= 1)
    }

    @Test("idle loop sleeps in epoll_wait")
    func idleLoopSleeps() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]

        let before = await onLoop(loop) { loop.turnCount }
        try await Task.sleep(for: .milliseconds(200))
        let after = await onLoop(loop) { loop.turnCount }
        // One turn for the second task; a spinning loop would run thousands.
        #expect(after - before <= 2)
    }

    @Test("executeSoon runs after the current task")
    func executeSoonRunsLater() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]

        let order = await onLoop(loop) { () -> [String] in
            // A reference type lets the non-Sendable closure record into it.
            final class Box { var order: [String] = [] }
            let box = Box()
            loop.executeSoon { box.order.append("soon") }
            box.order.append("now")
            return box.order
        }
        #expect(order == ["now"])
    }

    @Test("timers fire in deadline order, not before their deadline")
    func timersFireInOrder() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let fired = Mutex<[(Int, Duration)]>([])

        let start = MonotonicInstant.now()
        loop.execute {
            for delay in [30, 10, 20] {
                loop.scheduleTimer(after: .milliseconds(delay)) {
                    fired.withLock { $0.append((delay, MonotonicInstant.now() - start)) }
                }
            }
        }
        #expect(await waitUntil { fired.withLock { $0.count } == 3 })
        let results = fired.withLock { $0 }
        #expect(results.map(\.0) == [10, 20, 30])
        for (delay, elapsed) in results {
            #expect(elapsed >= .milliseconds(delay))
        }
    }

    @Test("cancelled timer does not fire")
    func cancelledTimerDoesNotFire() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let fired = Mutex<[String]>([])

        loop.execute {
            let cancelled = loop.scheduleTimer(after: .milliseconds(10)) { fired.withLock { $0.append("cancelled") } }
            loop.scheduleTimer(after: .milliseconds(30)) { fired.withLock { $0.append("kept") } }
            loop.cancelTimer(cancelled)
        }
        #expect(await waitUntil { fired.withLock { $0.count } == 1 })
        try await Task.sleep(for: .milliseconds(30))
        #expect(fired.withLock { $0 } == ["kept"])
        #expect(await onLoop(loop) { loop.pendingTimerCount } == 0)
    }

    @Test("group hands out loops round-robin")
    func groupRoundRobin() throws {
        let group = try EventLoopGroup(threads: 3)
        defer { group.shutdown() }

        let picked = (0..<6).map { _ in group.next().index }
        #expect(picked == [0, 1, 2, 0, 1, 2])
    }

    @Test("shutdown twice is harmless")
    func shutdownTwice() throws {
        let group = try EventLoopGroup(threads: 2)
        group.shutdown()
        group.shutdown()
    }
}

@Suite("TimerHeap")
struct TimerHeapTests {
    @Test("equal deadlines pop first in, first out")
    func equalDeadlinesFIFO() {
        var heap = TimerHeap()
        var order: [Int] = []
        for value in 0..<5 {
            _ = heap.schedule(deadline: 100) { order.append(value) }
        }
        while let callback = heap.popExpired(now: 100, idLimit: .max) {
            callback()
        }
        #expect(order == [0, 1, 2, 3, 4])
    }

    @Test("popExpired leaves future timers")
    func futureTimersStay() {
        var heap = TimerHeap()
        _ = heap.schedule(deadline: 50) {}
        _ = heap.schedule(deadline: 150) {}
        #expect(heap.popExpired(now: 100, idLimit: .max) != nil)
        #expect(heap.popExpired(now: 100, idLimit: .max) == nil)
        #expect(heap.nextDeadline() == 150)
    }

    @Test("timers scheduled during a round wait for the next")
    func idLimitHoldsNewTimers() {
        var heap = TimerHeap()
        let limit = heap.nextID
        _ = heap.schedule(deadline: 10) {}
        #expect(heap.popExpired(now: 100, idLimit: limit) == nil)
        #expect(heap.popExpired(now: 100, idLimit: heap.nextID) != nil)
    }

    @Test("mass cancellation shrinks the heap and keeps order")
    func massCancellation() {
        var heap = TimerHeap()
        var handles: [TimerHandle] = []
        var fired: [UInt64] = []
        for deadline in (0..<1000).reversed() {
            let value = UInt64(deadline)
            handles.append(heap.schedule(deadline: value) { fired.append(value) })
        }
        for (index, handle) in handles.enumerated() where index % 10 != 0 {
            heap.cancel(handle)
        }
        // Cancelling again, or a handle that already fired, changes nothing.
        heap.cancel(handles[1])
        #expect(heap.count == 100)

        while let callback = heap.popExpired(now: .max, idLimit: .max) {
            callback()
        }
        #expect(fired.count == 100)
        #expect(fired == fired.sorted())
        heap.cancel(handles[0])
        #expect(heap.count == 0)
    }
}
