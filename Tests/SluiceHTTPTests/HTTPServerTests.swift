import SluiceCore
import SluiceNet
import SluiceTestSupport
import Testing

@testable import SluiceHTTP

@Suite("HTTPServer")
struct HTTPServerTests {
    @Test("curl reuses one keep-alive connection")
    func curlKeepAlive() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let base = "http://127.0.0.1:\(server.localAddress.port)"

            let result = try runCurl(["-w", " connects=%{num_connects}\n", "\(base)/hello", "\(base)/hello"])
            #expect(result.status == 0)
            #expect(result.output == "hello connects=1\nhello connects=0\n")
        }
    }

    @Test("curl posts a body and reads it back")
    func curlPost() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in

            let result = try runCurl(["--data-binary", "ping pong", "http://127.0.0.1:\(server.localAddress.port)/echo"])
            #expect(result.status == 0)
            #expect(result.output == "ping pong")
        }
    }

    @Test("pipelined requests answered in order")
    func pipelining() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            // The first response is delayed, so the others are ready before it.
            try connection.send(
                "GET /slow?delay_ms=50 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthird")
            let first = try connection.readResponse()
            let second = try connection.readResponse()
            let third = try connection.readResponse()
            #expect(first.bodyText == "slow")
            #expect(second.bodyText == "hello")
            #expect(third.bodyText == "third")
        }
    }

    @Test("pipelined flood beyond the queue limit")
    func pipelinedFlood() async throws {
        let log = RouteLog()
        try await withTestServer(log: log, configure: { $0.maxPipelinedRequests = 2 }) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            // Far more requests than may wait at once: parsing pauses and resumes as responses go out.
            let requests = (0..<200).map { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(String($0).utf8.count)\r\n\r\n\($0)" }
            try connection.send(requests.joined())
            for index in 0..<200 {
                let response = try connection.readResponse()
                #expect(response.bodyText == String(index))
            }
        }
    }

    @Test("thousand sequential requests on one connection")
    func manySequentialRequests() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            for index in 0..<1000 {
                try connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(String(index).utf8.count)\r\n\r\n\(index)")
                let response = try connection.readResponse()
                #expect(response.status == 200)
                #expect(response.bodyText == String(index))
            }
            #expect(server.openConnectionCount == 1)
        }
    }

    @Test("five hundred concurrent connections")
    func manyConcurrentConnections() async throws {
        let log = RouteLog()
        try await withTestServer(log: log, threads: 2) { server in

            var connections: [HTTPTestConnection] = []
            for _ in 0..<500 {
                connections.append(try HTTPTestConnection(port: server.localAddress.port))
            }
            for connection in connections {
                try connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            var successes = 0
            for connection in connections {
                let response = try connection.readResponse()
                if response.status == 200 && response.bodyText == "hello" {
                    successes += 1
                }
            }
            #expect(successes == 500)
            #expect(server.openConnectionCount == 500)
            connections.removeAll()
            #expect(await waitUntil { server.openConnectionCount == 0 })
        }
    }

    @Test("HEAD gets the GET head without a body")
    func headRequest() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try connection.readResponse(headRequest: true)
            #expect(head.status == 200)
            #expect(head.header("content-length") == "5")
            #expect(head.header("date") != nil)
            // The GET right after proves no body bytes followed the HEAD response.
            let get = try connection.readResponse()
            #expect(get.bodyText == "hello")
        }
    }

    @Test("Connection close ends the connection")
    func connectionClose() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.bodyText == "hello")
            #expect(response.header("connection") == "close")
            #expect(connection.readsEndOfInput())
        }
    }

    @Test("HTTP/1.0 closes unless keep-alive is asked")
    func http10() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in

            let plain = try HTTPTestConnection(port: server.localAddress.port)
            try plain.send("GET /hello HTTP/1.0\r\n\r\n")
            let closed = try plain.readResponse()
            #expect(closed.bodyText == "hello")
            #expect(closed.header("connection") == "close")
            #expect(plain.readsEndOfInput())

            let persistent = try HTTPTestConnection(port: server.localAddress.port)
            try persistent.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let kept = try persistent.readResponse()
            #expect(kept.header("connection") == "keep-alive")
            try persistent.send("GET /stream?n=2&delay_ms=0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            // HTTP/1.0 has no chunked coding: the stream ends with the connection.
            let stream = try persistent.readResponse()
            #expect(stream.header("transfer-encoding") == nil)
            #expect(stream.bodyText == "data: 0\n\ndata: 1\n\n")
        }
    }

    @Test("Expect 100-continue gets 100 first")
    func expectContinue() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            let interim = try connection.readHead()
            #expect(interim?.status == 100)
            try connection.send("body")
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "body")
        }
    }

    @Test("Expect 100-continue on unknown path")
    func expectContinueRejected() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("POST /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 404)
            #expect(response.header("connection") == "close")
            #expect(connection.readsEndOfInput())
        }
    }

    @Test("request id comes from x-request-id")
    func requestIDs() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n\r\n")
            _ = try connection.readResponse()
            try connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try connection.readResponse()
            try connection.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-Id: has space\r\n\r\n")
            _ = try connection.readResponse()

            let ids = log.requestIDs
            #expect(ids.count == 3)
            #expect(ids[0] == "abc-123")
            #expect(ids[1].utf8.count == 15)
            #expect(ids[2] != "has space")
            #expect(ids[1] != ids[2])
        }
    }

    @Test("upgrade hands the connection over")
    func upgrade() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            // Bytes right after the request belong to the new protocol.
            try connection.send("GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nearly")
            let head = try connection.readHead()
            #expect(head?.status == 101)
            #expect(head?.header("upgrade") == "echo")
            #expect(head?.header("content-length") == nil)
            let early = try connection.readExactly(10)
            #expect(String(decoding: early, as: UTF8.self) == "echo:early")
            try connection.send("late")
            let late = try connection.readExactly(9)
            #expect(String(decoding: late, as: UTF8.self) == "echo:late")
        }
    }

    @Test("HTTP/2 preface without h2 gets 505")
    func http2PrefaceRejected() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 505)
            #expect(connection.readsEndOfInput())
        }
    }

    @Test("TLS ClientHello is closed cleanly")
    func tlsClosed() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.client.send([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
            #expect(connection.readsEndOfInput())
        }
    }

    @Test("router matches method and path")
    func routerMatching() {
        var router = HTTPRouter()
        router.get("/a") { _, _ in }
        router.post("/b") { _, _ in }
        router.add(.put, "/b") { _, _ in }

        guard case .handler = router.match(method: .get, path: "/a") else {
            Issue.record("GET /a should match")
            return
        }
        guard case .handler = router.match(method: .head, path: "/a") else {
            Issue.record("HEAD /a should use the GET route")
            return
        }
        guard case .methodNotAllowed(let allowedOnA) = router.match(method: .post, path: "/a") else {
            Issue.record("POST /a should be 405")
            return
        }
        #expect(allowedOnA == [.get, .head])
        guard case .methodNotAllowed(let allowedOnB) = router.match(method: .get, path: "/b") else {
            Issue.record("GET /b should be 405")
            return
        }
        #expect(allowedOnB == [.post, .put])
        guard case .notFound = router.match(method: .get, path: "/c") else {
            Issue.record("GET /c should be 404")
            return
        }
    }
}
