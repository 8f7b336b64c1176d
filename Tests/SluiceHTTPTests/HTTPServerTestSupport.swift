import SluiceCore
import SluiceNet
import SluiceTestSupport
import Synchronization

@testable import SluiceHTTP

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 response as the test client read it.
struct RawResponse {
    var status: Int
    /// Header fields with lowercased names, in order.
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0 == name.lowercased() }?.1
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Reads HTTP/1.1 responses from a raw connection, keeping bytes that belong
/// to the next response.
final class HTTPTestConnection: @unchecked Sendable {
    // Unchecked: a test uses each connection from one thread at a time, and
    // hands it to a background thread only while it waits for that thread.

    let client: RawSocketClient
    private var buffer: [UInt8] = []
    private(set) var peerClosed = false

    init(port: Int, receiveTimeout: Duration = .seconds(5)) throws {
        client = try RawSocketClient(port: port, receiveTimeout: receiveTimeout)
    }

    func send(_ text: String) throws { try client.send(text) }

    private func fill() throws -> Bool {
        guard !peerClosed else { return false }
        let chunk = try client.receiveSome()
        if chunk.isEmpty {
            peerClosed = true
            return false
        }
        buffer += chunk
        return true
    }

    private func readLine() throws -> String? {
        while true {
            if let index = buffer.firstIndex(of: 10) {
                let line = buffer[..<index]
                buffer.removeSubrange(...index)
                return String(decoding: line.last == 13 ? line.dropLast() : line, as: UTF8.self)
            }
            guard try fill() else { return nil }
        }
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { break }
        }
        let taken = Array(buffer.prefix(count))
        buffer.removeFirst(taken.count)
        return taken
    }

    /// Reads exactly `count` bytes after what was parsed so far, or fewer if the peer closes first.
    func readExactly(_ count: Int) throws -> [UInt8] {
        try readBytes(count)
    }

    /// Reads one response head (interim 1xx ones included).
    func readHead() throws -> RawResponse? {
        guard let statusLine = try readLine(), !statusLine.isEmpty else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw RawSocketClient.Failure(description: "invalid status line: \(statusLine)")
        }
        var headers: [(String, String)] = []
        while let line = try readLine(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw RawSocketClient.Failure(description: "invalid header line: \(line)")
            }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            headers.append((name, String(value)))
        }
        return RawResponse(status: status, headers: headers, body: [])
    }

    /// Reads one whole response. `headRequest` skips the body of a HEAD response.
    func readResponse(headRequest: Bool = false) throws -> RawResponse {
        guard var response = try readHead() else {
            throw RawSocketClient.Failure(description: "connection closed before a response")
        }
        if headRequest || response.status == 204 || response.status == 304 || response.status < 200 {
            return response
        }
        if let length = response.header("content-length").flatMap(Int.init) {
            response.body = try readBytes(length)
        } else if response.header("transfer-encoding") == "chunked" {
            while let sizeLine = try readLine(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) {
                if size == 0 {
                    while let trailer = try readLine(), !trailer.isEmpty {
                        response.headers.append((String(trailer.split(separator: ":")[0]).lowercased(), ""))
                    }
                    break
                }
                response.body += try readBytes(size)
                _ = try readLine()
            }
        } else {
            while try fill() {}
            response.body = buffer
            buffer = []
        }
        return response
    }

    /// Whether the server closed the connection (reads end of input) within the receive timeout.
    func readsEndOfInput() -> Bool {
        if peerClosed { return buffer.isEmpty }
        while let more = try? fill(), more {}
        return peerClosed
    }
}

/// Runs blocking `body` on a new thread, so a test can wait for it without
/// holding one of the few threads that run Swift tasks.
func onBackgroundThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        startThread {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Starts a detached thread that runs `body`.
func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let result = pthread_create(&thread, nil, { argument in
        Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(result == 0, "pthread_create failed: \(result)")
    pthread_detach(thread)
}

// MARK: curl

/// A running curl process whose standard output the test reads.
///
/// Started with posix_spawn rather than Foundation's Process, whose helper
/// threads would occupy the threads that run Swift tasks on a small machine.
final class CurlProcess {
    let pid: pid_t
    private let output: Int32

    init(_ arguments: [String]) throws {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw RawSocketClient.Failure(description: "pipe failed: errno \(errno)") }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])

        let all = ["curl", "--silent", "--show-error", "--max-time", "10"] + arguments
        let argv: [UnsafeMutablePointer<CChar>?] = all.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }

        var pid = pid_t()
        let result = posix_spawn(&pid, "/usr/bin/curl", &actions, nil, argv, environ)
        Glibc.close(pipeFDs[1])
        guard result == 0 else {
            Glibc.close(pipeFDs[0])
            throw RawSocketClient.Failure(description: "posix_spawn curl failed: \(result)")
        }
        self.pid = pid
        self.output = pipeFDs[0]
    }

    deinit {
        Glibc.close(output)
    }

    /// Reads what curl printed next; empty at end of output.
    func readSome() -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
        return count > 0 ? Array(buffer.prefix(count)) : []
    }

    /// Reads the rest of the output and waits for curl to exit; returns its exit status.
    func finish() -> (status: Int32, rest: [UInt8]) {
        var rest: [UInt8] = []
        while true {
            let chunk = readSome()
            if chunk.isEmpty { break }
            rest += chunk
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xFF, rest)
    }
}

/// Output and exit status of one curl run.
struct CurlResult {
    var status: Int32
    var output: String
}

/// Runs curl with `arguments` to the end and returns what it printed on standard output.
func runCurl(_ arguments: [String]) throws -> CurlResult {
    let process = try CurlProcess(arguments)
    let (status, output) = process.finish()
    return CurlResult(status: status, output: String(decoding: output, as: UTF8.self))
}

// MARK: Test server

/// What test routes saw, shared between the loops and the test.
final class RouteLog: Sendable {
    private struct State {
        var eventsSent = 0
        var streamsFinished = 0
        var cancellations: [CancellationReason] = []
        var requestIDs: [String] = []
    }

    private let state = Mutex(State())

    var eventsSent: Int { state.withLock { $0.eventsSent } }
    var streamsFinished: Int { state.withLock { $0.streamsFinished } }
    var cancellations: [CancellationReason] { state.withLock { $0.cancellations } }
    var requestIDs: [String] { state.withLock { $0.requestIDs } }

    func recordEventSent() { state.withLock { $0.eventsSent += 1 } }
    func recordStreamFinished() { state.withLock { $0.streamsFinished += 1 } }
    func recordCancellation(_ reason: CancellationReason) { state.withLock { $0.cancellations.append(reason) } }
    func recordRequestID(_ id: String) { state.withLock { $0.requestIDs.append(id) } }
}

/// Returns the integer value of `name` in a query such as `n=5&delay_ms=20`.
func queryValue(_ name: String, in query: String?, default defaultValue: Int) -> Int {
    for pair in (query ?? "").split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2, parts[0] == name, let value = Int(parts[1]) {
            return value
        }
    }
    return defaultValue
}

/// Echoes bytes back with a "echo:" prefix once a connection is upgraded.
final class UpgradedEchoHandler: ConnectionHandler {
    func connectionDidRead(_ connection: Connection, bytes: UnsafeRawBufferPointer) {
        connection.write(Array("echo:".utf8))
        connection.write(bytes)
    }

    func connectionDidClose(_ connection: Connection, error: ConnectionError?) {}
}

/// Returns the routes the server tests use.
func makeTestRouter(log: RouteLog) -> HTTPRouter {
    var router = HTTPRouter()

    router.get("/hello") { request, responder in
        log.recordRequestID(request.id)
        responder.send(status: 200, headers: ["content-type": "text/plain"], body: Array("hello".utf8))
    }

    router.post("/echo") { request, responder in
        responder.send(status: 200, body: request.body)
    }

    router.add(.delete, "/echo") { _, responder in
        responder.send(status: 204)
    }

    // Responds after `delay_ms`, so a later pipelined request is ready first.
    router.get("/slow") { request, responder in
        let delay = queryValue("delay_ms", in: request.head.query, default: 100)
        responder.eventLoop.scheduleTimer(after: .milliseconds(delay)) {
            responder.send(status: 200, body: Array("slow".utf8))
        }
    }

    // Streams `n` SSE events, `delay_ms` apart, then ends with a trailer.
    router.get("/stream") { request, responder in
        let count = queryValue("n", in: request.head.query, default: 5)
        let delay = queryValue("delay_ms", in: request.head.query, default: 20)
        let size = queryValue("size", in: request.head.query, default: 0)
        responder.cancellation.onCancel { log.recordCancellation($0) }
        responder.startStream(HTTPResponseHead(status: 200, headers: ["content-type": ServerSentEvents.contentType]))

        func send(_ index: Int) {
            guard !responder.isComplete else { return }
            if index == count {
                responder.finishStream(trailers: ["x-events": String(count)])
                log.recordStreamFinished()
                return
            }
            let padding = String(repeating: "p", count: size)
            responder.writeStreamChunk(ServerSentEvents.encode(data: "\(index)\(padding)"))
            log.recordEventSent()
            if delay == 0 {
                responder.eventLoop.executeSoon { send(index + 1) }
            } else {
                responder.eventLoop.scheduleTimer(after: .milliseconds(delay)) { send(index + 1) }
            }
        }
        send(0)
    }

    // Never responds; records when its cancellation fires.
    router.get("/hang") { _, responder in
        responder.cancellation.onCancel { log.recordCancellation($0) }
    }

    router.get("/upgrade") { _, responder in
        let switched = responder.upgrade(
            HTTPResponseHead(status: 101, headers: ["connection": "upgrade", "upgrade": "echo"])
        ) { _ in UpgradedEchoHandler() }
        if !switched {
            responder.send(status: 500)
        }
    }

    return router
}

/// Starts a server on a free loopback port with short timeouts and the test routes.
func makeTestServer(
    log: RouteLog,
    threads: Int = 1,
    configure: (inout HTTPServer.Configuration) -> Void = { _ in }
) throws -> HTTPServer {
    var configuration = HTTPServer.Configuration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.threads = threads
    configuration.shutdownGrace = .seconds(2)
    configure(&configuration)
    return try HTTPServer(configuration: configuration, router: makeTestRouter(log: log))
}

/// Runs `body` with a test server and shuts the server down afterwards, also
/// when `body` throws, so no event loop thread outlives the test.
func withTestServer(
    log: RouteLog,
    threads: Int = 1,
    configure: (inout HTTPServer.Configuration) -> Void = { _ in },
    _ body: (HTTPServer) async throws -> Void
) async throws {
    let server = try makeTestServer(log: log, threads: threads, configure: configure)
    do {
        try await body(server)
    } catch {
        await server.shutdown(grace: .zero)
        throw error
    }
    await server.shutdown(grace: .zero)
}
