/// One of the load generator's `--concurrency` connections, and the one request it has in flight.
///
/// A slot has at most one socket at a time. When that socket closes while
/// the run may still send, the slot opens a new one, so the number of busy
/// connections stays at `--concurrency`.
struct ConnectionSlot {
    enum Phase: Equatable {
        /// No socket, and none will be opened: the run sends no more requests.
        case finished
        /// Waiting for a non-blocking connect to complete.
        case connecting
        /// Connected: sending requests and reading responses.
        case open
        /// A connect failed; the next attempt is due at this monotonic time in nanoseconds.
        case waitingToRetry(until: UInt64)
    }

    /// Tokens after which this slot closes its connection mid-stream, or nil.
    let disconnectAfter: Int?
    var phase = Phase.finished
    var fd: Int32 = -1
    /// Incremented for every socket, so that an epoll event of a closed socket is recognized and dropped.
    var generation: UInt32 = 0
    var reader = HTTPResponseReader()
    /// Whether a request was sent and its response has not ended.
    var requestInFlight = false
    /// When the request in flight was written, in monotonic nanoseconds.
    var sentAt: UInt64 = 0
    /// Tokens of the response in flight.
    var tokens = 0
    /// When the previous token of the response in flight arrived, in monotonic nanoseconds.
    var lastTokenAt: UInt64 = 0
    /// Bytes at the end of the request that the socket has not accepted yet.
    var unwrittenBytes = 0
    /// Whether epoll reports the socket as writable, which it does only while bytes wait to be written.
    var watchesWritable = false

    init(disconnectAfter: Int?) {
        self.disconnectAfter = disconnectAfter
    }

    /// Returns the epoll key of the current socket: the generation in the high half, the slot's index in the low half.
    func epollKey(index: Int) -> UInt64 {
        UInt64(generation) << 32 | UInt64(index)
    }
}
