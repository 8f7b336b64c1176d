import Synchronization
import Testing
import SluiceCore

@Suite struct CancellationTests {
    @Test func handlersRunOnceWithFirstReason() {
        let cancellation = Cancellation()
        let calls = Mutex<[CancellationReason]>([])
        cancellation.onCancel { reason in calls.withLock { $0.append(reason) } }
        cancellation.cancel(.clientDisconnected)
        cancellation.cancel(.deadline)
        #expect(calls.withLock { $0 } == [.clientDisconnected])
        #expect(cancellation.reason == .clientDisconnected)
        #expect(cancellation.isCancelled)
    }

    @Test func lateHandlerRunsAtOnce() {
        let cancellation = Cancellation()
        cancellation.cancel(.slowConsumer)
        let seen = Mutex<CancellationReason?>(nil)
        cancellation.onCancel { reason in seen.withLock { $0 = reason } }
        #expect(seen.withLock { $0 } == .slowConsumer)
    }

    @Test func handlerMayRegisterAnotherHandler() {
        let cancellation = Cancellation()
        let count = Mutex(0)
        cancellation.onCancel { _ in
            cancellation.onCancel { _ in count.withLock { $0 += 1 } }
            count.withLock { $0 += 1 }
        }
        cancellation.cancel(.shutdown)
        #expect(count.withLock { $0 } == 2)
    }
}
