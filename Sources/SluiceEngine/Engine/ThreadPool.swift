import CKernels

/// The kernels' thread pool: `threads - 1` worker threads plus the caller.
final class ThreadPool {
    let pool: OpaquePointer
    let threads: Int

    init(threads: Int, spinMicroseconds: Int) throws(EngineError) {
        guard let pool = sk_pool_create(Int32(threads), Int32(spinMicroseconds)) else {
            throw .outOfMemory("could not start \(threads - 1) engine threads")
        }
        self.pool = pool
        self.threads = threads
    }

    deinit {
        sk_pool_destroy(pool)
    }
}
