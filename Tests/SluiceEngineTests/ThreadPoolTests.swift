import CKernels
import Synchronization
import Testing

@testable import SluiceEngine

@Suite("ThreadPool")
struct ThreadPoolTests {
    final class Counters: @unchecked Sendable {
        // Each task writes only its own slot, and the pool's completion orders the writes before the reads.
        var hits: [Int]
        init(count: Int) { hits = Array(repeating: 0, count: count) }
    }

    @Test("every task runs once", arguments: [1, 2, 4])
    func everyTaskRunsOnce(threads: Int) throws {
        let pool = try ThreadPool(threads: threads, spinMicroseconds: 20)
        for taskCount in [0, 1, 3, 100, 1000, 1_100_000] {
            let counters = Counters(count: max(taskCount, 1))
            let context = Unmanaged.passUnretained(counters).toOpaque()
            sk_pool_run(pool.pool, { context, task, thread in
                let counters = Unmanaged<Counters>.fromOpaque(context!).takeUnretainedValue()
                counters.hits[Int(task)] += 1
            }, context, Int32(taskCount))
            #expect(counters.hits.prefix(taskCount).allSatisfy { $0 == 1 }, "\(taskCount) tasks on \(threads) threads")
        }
    }

    @Test("idle pool sleeps and wakes")
    func idlePoolSleepsAndWakes() async throws {
        let pool = try ThreadPool(threads: 2, spinMicroseconds: 0)
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(20))
            let counters = Counters(count: 64)
            let context = Unmanaged.passUnretained(counters).toOpaque()
            sk_pool_run(pool.pool, { context, task, _ in
                let counters = Unmanaged<Counters>.fromOpaque(context!).takeUnretainedValue()
                counters.hits[Int(task)] += 1
            }, context, 64)
            #expect(counters.hits.allSatisfy { $0 == 1 })
        }
    }
}
