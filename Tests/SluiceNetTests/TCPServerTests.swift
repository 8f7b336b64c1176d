import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import SluiceNet
import SluiceTestSupport

/// What a test handler saw, shared between the loop and the test.
final class ConnectionLog: Sendable {
    private let state = Mutex<(received: [UInt8], closes: [ConnectionError?], writabilityChanges: [Bool])>(([], [], []))

    var received: [UInt8] { state.withLock { $0.received } }
    var closes: [ConnectionError?] { state.withLock { $0.closes } }
    var writabilityChanges: [Bool] { state.withLock { $0.writabilityChanges } }

    func record(read bytes: UnsafeRawBufferPointer) { state.withLock { $0.received += bytes } }
    func record(close error: ConnectionError?) { state.withLock { $0.closes.append(error) } }
    func record(writable: Bool) { state.withLock { $0.writabilityChanges.append(writable) } }
}

/// Echoes every byte back and records what happened.
final class EchoHandler: ConnectionHandler {
    let log: ConnectionLog

    init(log: ConnectionLog) { self.log = log }

    func connectionDidRead(_ connection: Connection, bytes: UnsafeRawBufferPointer) {
        log.record(read: bytes)
        connection.write(bytes)
    }

    func connectionDidClose(_ connection: Connection, error: ConnectionError?) {
        log.record(close: error)
    }
}

/// Writes `size` bytes as soon as the connection opens and records writability changes.
final class FloodHandler: ConnectionHandler {
    let log: ConnectionLog
    let size: Int

    init(log: ConnectionLog, size: Int) {
        self.log = log
        self.size = size
    }

    func handlerAdded(to connection: Connection) {
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        for _ in 0..<(size / chunk.count) {
            connection.write(chunk)
        }
    }

    func connectionDidRead(_ connection: Connection, bytes: UnsafeRawBufferPointer) {}

    func connectionWritabilityDidChange(_ connection: Connection) {
        log.record(writable: connection.isWritable)
    }

    func connectionDidClose(_ connection: Connection, error: ConnectionError?) {
        log.record(close: error)
    }
}

func makeServer(
    group: EventLoopGroup,
    mode: TCPServer.AcceptMode = .singleListener,
    host: String = "127.0.0.1",
    configure: (inout TCPServer.Configuration) -> Void = { _ in },
    handler: @escaping @Sendable () -> any ConnectionHandler
) throws -> TCPServer {
    var configuration = TCPServer.Configuration()
    configuration.host = host
    configuration.port = 0
    configuration.acceptMode = mode
    configuration.lingerTimeout = .milliseconds(200)
    configure(&configuration)
    return try TCPServer(group: group, configuration: configuration, makeHandler: handler)
}

@Suite("TCPServer")
struct TCPServerTests {
    @Test("echo in each accept mode", arguments: [TCPServer.AcceptMode.singleListener, .listenerPerLoop])
    func echo(mode: TCPServer.AcceptMode) async throws {
        let group = try EventLoopGroup(threads: 2)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let server = try makeServer(group: group, mode: mode) { EchoHandler(log: log) }
        #expect(server.localAddress.port > 0)

        // Several clients, so both loops get connections in either mode.
        for round in 0..<4 {
            let client = try RawSocketClient(port: server.localAddress.port)
            try client.send("hello \(round)")
            let reply = try client.receive(count: 7)
            #expect(String(decoding: reply, as: UTF8.self) == "hello \(round)")
        }
        await server.shutdown(grace: .seconds(1))
    }

    @Test("single listener balances loops")
    func singleListenerBalances() async throws {
        let group = try EventLoopGroup(threads: 2)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let server = try makeServer(group: group, mode: .singleListener) { EchoHandler(log: log) }

        var clients: [RawSocketClient] = []
        for _ in 0..<64 {
            clients.append(try RawSocketClient(port: server.localAddress.port))
        }
        #expect(await waitUntil { server.openConnectionCount == 64 })
        #expect(server.loopConnectionCounts == [32, 32])
        clients.removeAll()
        await server.shutdown(grace: .zero)
    }

    @Test("IPv6 loopback listener")
    func ipv6Loopback() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let server: TCPServer
        do {
            server = try makeServer(group: group, host: "::1") { EchoHandler(log: log) }
        } catch let error as SocketError where error.code == EADDRNOTAVAIL || error.code == EAFNOSUPPORT {
            // The machine has no IPv6 loopback; nothing to test.
            return
        }
        #expect(server.localAddress.description.hasPrefix("[::1]:"))

        let client = try RawSocketClient(port: server.localAddress.port, host: "::1")
        try client.send("six")
        #expect(try client.receive(count: 3) == Array("six".utf8))
        await server.shutdown(grace: .seconds(1))
    }

    @Test("socket addresses parse and print")
    func socketAddresses() throws {
        #expect(try SocketAddress(host: "127.0.0.1", port: 80).description == "127.0.0.1:80")
        #expect(try SocketAddress(host: "0.0.0.0", port: 0).description == "0.0.0.0:0")
        #expect(try SocketAddress(host: "::1", port: 8080).description == "[::1]:8080")
        #expect(try SocketAddress(host: "::", port: 1).description == "[::]:1")
        let localhost = try SocketAddress(host: "localhost", port: 9)
        #expect(["127.0.0.1:9", "[::1]:9"].contains(localhost.description))
        #expect(throws: SocketAddressError.self) { try SocketAddress(host: "not a host", port: 80) }
        #expect(throws: SocketAddressError.self) { try SocketAddress(host: "127.0.0.1", port: 70000) }
    }

    @Test("port in use fails to bind")
    func portInUse() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let server = try makeServer(group: group) { EchoHandler(log: log) }
        let port = server.localAddress.port

        #expect(throws: SocketError.self) {
            try makeServer(group: group, configure: { $0.port = port }) { EchoHandler(log: log) }
        }
        server.shutdown(grace: .zero)
    }

    @Test("peer close reports end of input")
    func peerCloseReported() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let server = try makeServer(group: group) { EchoHandler(log: log) }

        let client = try RawSocketClient(port: server.localAddress.port)
        try client.send("x")
        _ = try client.receive(count: 1)
        client.close()
        #expect(await waitUntil { log.closes.count == 1 })
        #expect(log.closes == [.endOfInput])
        #expect(await waitUntil { server.openConnectionCount == 0 })
        await server.shutdown(grace: .seconds(1))
    }

    @Test("peer reset reports reset")
    func peerResetReported() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let server = try makeServer(group: group) { EchoHandler(log: log) }

        let client = try RawSocketClient(port: server.localAddress.port)
        try client.send("x")
        _ = try client.receive(count: 1)
        client.closeWithReset()
        #expect(await waitUntil { log.closes.count == 1 })
        #expect(log.closes == [.reset])
        await server.shutdown(grace: .seconds(1))
    }

    @Test("slow reader triggers back-pressure")
    func backPressure() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let size = 8 << 20
        let server = try makeServer(group: group) { FloodHandler(log: log, size: size) }

        let client = try RawSocketClient(port: server.localAddress.port)
        // The handler wrote far more than the high-water mark before the
        // first flush, so it went unwritable at once.
        #expect(await waitUntil { log.writabilityChanges == [false] })
        let received = try client.receive(count: size)
        #expect(received.count == size)
        #expect(await waitUntil { log.writabilityChanges == [false, true] })
        await server.shutdown(grace: .seconds(1))
    }

    @Test("blocked output times out")
    func writeTimeout() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let server = try makeServer(group: group, configure: { $0.writeTimeout = .milliseconds(100) }) {
            FloodHandler(log: log, size: 32 << 20)
        }

        let client = try RawSocketClient(port: server.localAddress.port)
        #expect(await waitUntil { log.closes.count == 1 })
        #expect(log.closes == [.writeTimeout])
        client.close()
        await server.shutdown(grace: .seconds(1))
    }

    @Test("shutdown waits for quiescing connections")
    func gracefulShutdownWaits() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()

        /// Closes 100 ms after being asked to quiesce, standing in for a response that finishes.
        final class SlowQuiesceHandler: ConnectionHandler {
            let log: ConnectionLog
            init(log: ConnectionLog) { self.log = log }
            func connectionDidRead(_ connection: Connection, bytes: UnsafeRawBufferPointer) {
                connection.write(bytes)
            }
            func connectionShouldQuiesce(_ connection: Connection) {
                connection.eventLoop.scheduleTimer(after: .milliseconds(100)) {
                    connection.write(Array("bye".utf8))
                    connection.close()
                }
            }
            func connectionDidClose(_ connection: Connection, error: ConnectionError?) {
                log.record(close: error)
            }
        }

        let server = try makeServer(group: group) { SlowQuiesceHandler(log: log) }
        let client = try RawSocketClient(port: server.localAddress.port)
        try client.send("hi")
        #expect(try client.receive(count: 2) == Array("hi".utf8))

        // The completion form starts the shutdown at once, without waiting
        // for a free task thread while this one blocks on the socket.
        let start = ContinuousClock.now
        let finished = Atomic<Bool>(false)
        server.shutdown(grace: .seconds(5)) { finished.store(true, ordering: .sequentiallyConsistent) }
        #expect(try client.receiveUntilClosed() == Array("bye".utf8))
        client.close()
        #expect(await waitUntil { finished.load(ordering: .sequentiallyConsistent) })
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(await waitUntil { log.closes == [nil] })
        #expect(throws: RawSocketClient.Failure.self) { try RawSocketClient(port: server.localAddress.port) }
    }

    @Test("grace period closes lingering connections")
    func gracePeriodForcesClose() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()

        /// Ignores the request to quiesce.
        final class StubbornHandler: ConnectionHandler {
            let log: ConnectionLog
            init(log: ConnectionLog) { self.log = log }
            func connectionDidRead(_ connection: Connection, bytes: UnsafeRawBufferPointer) {}
            func connectionShouldQuiesce(_ connection: Connection) {}
            func connectionDidClose(_ connection: Connection, error: ConnectionError?) {
                log.record(close: error)
            }
        }

        let server = try makeServer(group: group) { StubbornHandler(log: log) }
        let client = try RawSocketClient(port: server.localAddress.port)
        #expect(await waitUntil { server.openConnectionCount == 1 })

        await server.shutdown(grace: .milliseconds(100))
        #expect(log.closes == [.shutdown])
        #expect(try client.receiveUntilClosed().isEmpty)
    }
}

@Suite("ProtocolSelector")
struct ProtocolSelectorTests {
    func select(_ text: [UInt8]) -> SelectedProtocol? {
        text.withUnsafeBytes { ProtocolSelector.select($0) }
    }

    @Test("first bytes select the protocol")
    func selection() {
        #expect(select([0x16, 0x03, 0x01]) == .tls)
        #expect(select(Array("GET / HTTP/1.1\r\n".utf8)) == .http1)
        #expect(select(Array("POST".utf8)) == .http1)
        #expect(select(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)) == .http2)
        #expect(select(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nextra".utf8)) == .http2)
        #expect(select(Array("PRI * HTTP/1.1".utf8)) == .http1)
        #expect(select(Array("PRI".utf8)) == nil)
        #expect(select(Array("P".utf8)) == nil)
        #expect(select([]) == nil)
    }

    @Test("split preface reaches the chosen handler whole")
    func splitPreface() async throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let log = ConnectionLog()
        let chosen = Mutex<[SelectedProtocol]>([])
        let server = try makeServer(group: group) {
            ProtocolSelector { selected in
                chosen.withLock { $0.append(selected) }
                return selected == .tls ? nil : EchoHandler(log: log)
            }
        }

        let client = try RawSocketClient(port: server.localAddress.port)
        try client.send("PRI * HTTP/2.0\r\n")
        try await Task.sleep(for: .milliseconds(20))
        try client.send("\r\nSM\r\n\r\nrest")
        let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nrest"
        #expect(try client.receive(count: preface.utf8.count) == Array(preface.utf8))
        #expect(chosen.withLock { $0 } == [.http2])

        let tlsClient = try RawSocketClient(port: server.localAddress.port)
        try tlsClient.send([0x16, 0x03, 0x01, 0x00])
        #expect(try tlsClient.receiveUntilClosed().isEmpty)
        #expect(chosen.withLock { $0 } == [.http2, .tls])
        await server.shutdown(grace: .seconds(1))
    }
}
