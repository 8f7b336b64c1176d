import SluiceCore
import SluiceNet

#if canImport(Glibc)
import Glibc
#endif

/// Per-loop state of an HTTP server, shared by that loop's connections:
/// settings, routes, a scratch buffer for encoding, the cached `Date` field
/// value, and the request id counter.
final class HTTPServerLoopContext: @unchecked Sendable {
    // Safe to share: created before any loop can reach it; afterwards the
    // `var`s are touched only on `eventLoop`'s thread, by the connections
    // that loop owns.

    let eventLoop: EventLoop
    let configuration: HTTPServer.Configuration
    let parserLimits: HTTP1ParserLimits
    let router: HTTPRouter
    let logger: Logger

    /// Reused buffer for encoding response heads and chunk framing; callers
    /// empty it first and copy it into the connection's output before the
    /// next caller runs.
    var scratch: [UInt8] = []

    private var cachedDateSecond = -1
    private var cachedDate = ""
    private var requestCounter: UInt64 = 0
    private let requestIDPrefix: UInt64

    init(eventLoop: EventLoop, configuration: HTTPServer.Configuration, router: HTTPRouter) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.parserLimits = configuration.parserLimits
        self.router = router
        self.logger = Logger(label: "sluice.http").with("loop", String(eventLoop.index))
        self.requestIDPrefix = UInt64.random(in: 0..<(1 << 30))
        scratch.reserveCapacity(1024)
    }

    /// The `Date` field value for the current second, formatted at most once per second.
    func date() -> String {
        let now = Int(time(nil))
        if now != cachedDateSecond {
            cachedDateSecond = now
            cachedDate = HTTPDate.imfFixdate(secondsSince1970: now)
        }
        return cachedDate
    }

    /// Returns the client's `x-request-id` when acceptable, otherwise a new id.
    ///
    /// New ids are 15 base-32 characters: 6 random per loop, then 9 of a
    /// per-loop counter. Fifteen bytes fit Swift's inline small-string
    /// storage, so making one allocates nothing.
    func makeRequestID(for head: HTTPRequestHead) -> String {
        if let chosen = head.headers[HTTPRequest.requestIDHeader], let valid = HTTPRequest.validRequestID(chosen) {
            return valid
        }
        requestCounter &+= 1
        let value = requestIDPrefix << 45 | (requestCounter & ((1 << 45) - 1))
        return String(unsafeUninitializedCapacity: 15) { buffer in
            let alphabet: StaticString = "0123456789abcdefghijklmnopqrstuv"
            for position in 0..<15 {
                let digit = Int(value >> UInt64(5 * (14 - position)) & 31)
                buffer[position] = alphabet.utf8Start[digit]
            }
            return 15
        }
    }
}
