import SluiceCore
@testable import SluiceNet
import Synchronization
import SluiceTestSupport
import Testing

@testable import SluiceHTTP

#if canImport(Glibc)
import Glibc
#endif

@Suite("HTTPServer streaming")
struct HTTPServerStreamingTests {
    @Test("curl reads SSE events as they arrive")
    func sseArrivesIncrementally() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let eventCount = 10

            let curl = try CurlProcess([
                "-N", "http://127.0.0.1:\(server.localAddress.port)/stream?n=\(eventCount)&delay_ms=40",
            ])

            // Read until the first event is complete, then look at how many the route sent.
            var received: [UInt8] = []
            while !String(decoding: received, as: UTF8.self).contains("data: 0\n\n") {
                let chunk = curl.readSome()
                if chunk.isEmpty { break }
                received += chunk
            }
            let sentWhenFirstArrived = log.eventsSent
            let (status, rest) = curl.finish()
            received += rest

            #expect(sentWhenFirstArrived < eventCount)
            let expected = (0..<eventCount).map { "data: \($0)\n\n" }.joined()
            #expect(String(decoding: received, as: UTF8.self) == expected)
            #expect(status == 0)
            #expect(log.streamsFinished == 1)
        }
    }

    @Test("chunked framing on the wire")
    func chunkedFraming() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /stream?n=2&delay_ms=0 HTTP/1.1\r\nHost: x\r\n\r\n")
            let raw = try connection.client.receive(until: { String(decoding: $0, as: UTF8.self).hasSuffix("\r\n\r\n") && $0.count > 150 })
            let text = String(decoding: raw, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.contains("transfer-encoding: chunked\r\n"))
            #expect(text.contains("\r\n\r\n9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n0\r\nx-events: 2\r\n\r\n"))
        }
    }

    @Test("disconnect mid-stream fires cancellation")
    func disconnectCancels() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /stream?n=1000&delay_ms=10 HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try connection.readHead()
            connection.client.close()
            #expect(await waitUntil { log.cancellations == [.clientDisconnected] })
            let sentAtCancel = log.eventsSent
            try await Task.sleep(for: .milliseconds(50))
            #expect(log.eventsSent == sentAtCancel)
        }
    }

    @Test("reset before any response fires cancellation")
    func resetCancelsWaitingHandler() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            try await Task.sleep(for: .milliseconds(20))
            connection.client.closeWithReset()
            #expect(await waitUntil { log.cancellations == [.clientDisconnected] })
        }
    }

    @Test("slow reader is cancelled as slow consumer")
    func slowConsumer() async throws {
        let log = RouteLog()
        try await withTestServer(log: log, configure: { $0.maxOutboundBufferBytes = 256 * 1024 }) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            // Large events with no pause: the socket buffers fill and output piles up.
            try connection.send("GET /stream?n=100000&delay_ms=1&size=16384 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await waitUntil(timeout: .seconds(10)) { log.cancellations == [.slowConsumer] })
            connection.client.close()
        }
    }

    @Test("graceful shutdown lets a stream finish")
    func shutdownLetsStreamFinish() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let port = server.localAddress.port
            let connection = try HTTPTestConnection(port: port)

            try connection.send("GET /stream?n=5&delay_ms=40 HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try connection.readHead()
            // The rest of the stream is read on another thread while the shutdown runs here.
            let reading = Task { try await onBackgroundThread { try connection.client.receiveUntilClosed() } }
            let shutdown = Task { await server.shutdown(grace: .seconds(5)) }
            #expect(await waitUntil { (try? RawSocketClient(port: port)) == nil })

            let body = try await reading.value
            await shutdown.value
            let text = String(decoding: body, as: UTF8.self)
            #expect(text.contains("data: 4\n\n"))
            #expect(text.hasSuffix("0\r\nx-events: 5\r\n\r\n"))
            #expect(log.streamsFinished == 1)
            #expect(log.cancellations.isEmpty)
        }
    }

    @Test("grace period cancels an unfinished stream")
    func gracePeriodCancelsStream() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            try await Task.sleep(for: .milliseconds(20))
            await server.shutdown(grace: .milliseconds(100))
            #expect(log.cancellations == [.shutdown])
            #expect(connection.readsEndOfInput())
        }
    }

    @Test("shutdown signal stops the server")
    func shutdownSignal() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let port = server.localAddress.port

            let run = Task { try await server.runUntilShutdownSignal(signals: [SIGUSR2]) }
            // Raising the signal before the handler is installed would end the test process.
            guard await waitUntil({ SignalWatcher.isActive.load(ordering: .sequentiallyConsistent) }) else {
                Issue.record("the signal watcher was not installed within 5 s")
                return
            }
            // Sent to the process, not the thread: this task's thread may block the signal.
            kill(getpid(), SIGUSR2)
            try await run.value
            #expect(throws: RawSocketClient.Failure.self) { try RawSocketClient(port: port) }
        }
    }
}
