import SluiceCore
import SluiceNet
import Testing

@testable import SluiceHTTP

/// One bad request and the response the server must send.
struct BadRequestCase: CustomStringConvertible, Sendable {
    var name: String
    var request: String
    var status: Int
    var code: String
    /// Whether the server closes the connection after its response.
    var closes = true

    var description: String { name }
}

@Suite("HTTPServer errors")
struct HTTPServerErrorTests {
    static let cases: [BadRequestCase] = [
        BadRequestCase(
            name: "request line too long",
            request: "GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: x\r\n\r\n",
            status: 414, code: "request_line_too_long"),
        BadRequestCase(
            name: "header section too large",
            request: "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 40000))\r\n\r\n",
            status: 431, code: "header_section_too_large"),
        BadRequestCase(
            name: "Content-Length over the body limit",
            request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
            status: 413, code: "payload_too_large"),
        BadRequestCase(
            name: "chunked body over the body limit",
            request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5F5E0FF\r\n",
            status: 413, code: "payload_too_large"),
        BadRequestCase(
            name: "Content-Length with Transfer-Encoding",
            request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            status: 400, code: "conflicting_length_headers"),
        BadRequestCase(
            name: "bad chunk size",
            request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            status: 400, code: "invalid_chunk_size"),
        BadRequestCase(
            name: "bad Content-Length",
            request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
            status: 400, code: "invalid_content_length"),
        BadRequestCase(
            name: "obsolete line folding",
            request: "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n",
            status: 400, code: "obsolete_line_folding"),
        BadRequestCase(
            name: "bare LF",
            request: "GET /hello HTTP/1.1\nHost: x\r\n\r\n",
            status: 400, code: "bare_line_feed"),
        BadRequestCase(
            name: "unsupported transfer coding",
            request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            status: 501, code: "unsupported_transfer_encoding"),
        BadRequestCase(
            name: "unknown path",
            request: "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
            status: 404, code: "not_found", closes: false),
        BadRequestCase(
            name: "wrong method",
            request: "PUT /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            status: 405, code: "method_not_allowed", closes: false),
    ]

    @Test("bad input gets a JSON error", arguments: cases)
    func badInput(_ badCase: BadRequestCase) async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send(badCase.request)
            let response = try connection.readResponse()
            #expect(response.status == badCase.status)
            #expect(response.header("content-type") == "application/json")
            #expect(response.bodyText.contains(#""code":"\#(badCase.code)""#))
            #expect(response.bodyText.hasPrefix(#"{"error":{"message":"#))

            if badCase.closes {
                #expect(response.header("connection") == "close")
                #expect(connection.readsEndOfInput())
            } else {
                // The connection stays usable.
                try connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try connection.readResponse().bodyText == "hello")
            }
        }
    }

    @Test("405 lists the allowed methods")
    func allowHeader() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 405)
            #expect(response.header("allow") == "DELETE, POST")
        }
    }

    @Test("router errors carry the request id")
    func routerErrorsCarryRequestID() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /missing HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-7\r\n\r\n")
            let notFound = try connection.readResponse()
            #expect(notFound.status == 404)
            #expect(notFound.header("x-request-id") == "trace-7")

            try connection.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            let notAllowed = try connection.readResponse()
            #expect(notAllowed.status == 405)
            #expect(notAllowed.header("x-request-id")?.utf8.count == 15)
        }
    }

    @Test("slow request head gets 408")
    func slowHeaderTimeout() async throws {
        let log = RouteLog()
        try await withTestServer(log: log, configure: { $0.headerReadTimeout = .milliseconds(150) }) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n")
            let start = ContinuousClock.now
            let response = try connection.readResponse()
            #expect(response.status == 408)
            #expect(response.bodyText.contains(#""code":"request_timeout""#))
            #expect(ContinuousClock.now - start >= .milliseconds(100))
            #expect(connection.readsEndOfInput())
        }
    }

    @Test("stalled request body gets 408")
    func stalledBodyTimeout() async throws {
        let log = RouteLog()
        try await withTestServer(log: log, configure: { $0.idleTimeout = .milliseconds(150) }) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            let response = try connection.readResponse()
            #expect(response.status == 408)
            #expect(response.bodyText.contains("body stopped arriving"))
            #expect(connection.readsEndOfInput())
        }
    }

    @Test("silent new connection is closed")
    func silentConnectionClosed() async throws {
        let log = RouteLog()
        try await withTestServer(log: log, configure: { $0.headerReadTimeout = .milliseconds(100) }) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            #expect(connection.readsEndOfInput())
        }
    }

    @Test("idle keep-alive connection is closed")
    func idleTimeout() async throws {
        let log = RouteLog()
        try await withTestServer(log: log, configure: { $0.idleTimeout = .milliseconds(150) }) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try connection.readResponse().bodyText == "hello")
            let start = ContinuousClock.now
            #expect(connection.readsEndOfInput())
            #expect(ContinuousClock.now - start >= .milliseconds(100))
        }
    }

    @Test("error waits for earlier pipelined responses")
    func errorAfterPipelinedRequests() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let connection = try HTTPTestConnection(port: server.localAddress.port)

            try connection.send("GET /slow?delay_ms=30 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\nHost: x\r\n\r\n")
            #expect(try connection.readResponse().bodyText == "slow")
            #expect(try connection.readResponse().status == 400)
            #expect(connection.readsEndOfInput())
        }
    }

    @Test("client errors are counted")
    func clientErrorsCounted() async throws {
        let log = RouteLog()
        try await withTestServer(log: log) { server in
            let counter = MetricsRegistry.shared.counter(
                "sluice_http_client_errors_total", help: "", labels: [("code", "bare_line_feed")])
            let before = counter.current

            let connection = try HTTPTestConnection(port: server.localAddress.port)
            try connection.send("GET / HTTP/1.1\n\n")
            #expect(try connection.readResponse().status == 400)
            #expect(counter.current > before)
        }
    }
}
