import SluiceHTTP
import Testing

@Suite struct HTTP1ResponseWriterTests {
    private func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    private func writer(_ method: HTTPMethod = .get, _ version: HTTPVersion = .http1_1, keepAlive: Bool = true)
        -> HTTP1ResponseWriter
    {
        HTTP1ResponseWriter(requestMethod: method, requestVersion: version, keepAlive: keepAlive)
    }

    @Test func fullResponseWithContentLength() {
        var writer = writer()
        var output: [UInt8] = []
        let head = HTTPResponseHead(status: 200, headers: ["Content-Type": "application/json"])
        writer.writeResponse(head, body: Array("{}".utf8), into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}")
        #expect(writer.framing == .contentLength(2))
        #expect(writer.isComplete)
        #expect(!writer.mustCloseConnection)
    }

    @Test func appendsToExistingBuffer() {
        var writer = writer()
        var output = Array("previous".utf8)
        writer.writeResponse(HTTPResponseHead(status: 204), body: [UInt8](), into: &output)
        #expect(text(output) == "previousHTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test func chunkedStreamWithTrailers() {
        var writer = writer(.post)
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: nil, into: &output)
        writer.writeBody(Array("hello".utf8), into: &output)
        writer.writeBody([UInt8](), into: &output)
        writer.writeBody(Array(repeating: UInt8(ascii: "x"), count: 26), into: &output)
        writer.writeEnd(trailers: ["x-usage": "7"], into: &output)

        let expected =
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            + "5\r\nhello\r\n1a\r\n\(String(repeating: "x", count: 26))\r\n0\r\nx-usage: 7\r\n\r\n"
        #expect(text(output) == expected)
        #expect(writer.framing == .chunked)
        #expect(!writer.mustCloseConnection)
    }

    @Test func chunkedOutputParsesBack() throws {
        var writer = writer(.post)
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: nil, into: &output)
        for piece in ["a", String(repeating: "b", count: 300), "c"] {
            writer.writeBody(Array(piece.utf8), into: &output)
        }
        writer.writeEnd(into: &output)

        // The chunked body is the same wire format in requests, so the request
        // parser can check it after a request line replaces the status line.
        let bodyStart = try #require(text(output).firstRange(of: "\r\n\r\n")).upperBound
        let request = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + String(text(output)[bodyStart...])
        let outcome = parseHTTP1(request)
        #expect(outcome.error == nil)
        #expect(outcome.bodies == ["a" + String(repeating: "b", count: 300) + "c"])
    }

    @Test func headResponseHasLengthButNoBody() {
        var writer = writer(.head)
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: 42, into: &output)
        writer.writeBody(Array("ignored".utf8), into: &output)
        writer.writeEnd(into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n")
        #expect(writer.framing == .noBody)
        #expect(!writer.mustCloseConnection)
    }

    @Test func headResponseWithUnknownLength() {
        var writer = writer(.head)
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: nil, into: &output)
        writer.writeEnd(into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\n\r\n")
    }

    @Test(arguments: [204, 304])
    func statusesWithoutBody(status: Int) {
        var writer = writer()
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: status), bodyLength: 10, into: &output)
        writer.writeBody(Array("ignored".utf8), into: &output)
        writer.writeEnd(into: &output)
        let reason = HTTPStatus.reasonPhrase(for: status)
        #expect(text(output) == "HTTP/1.1 \(status) \(reason)\r\n\r\n")
        #expect(writer.framing == .noBody)
    }

    @Test func continueResponse() {
        var output: [UInt8] = []
        HTTP1ResponseWriter.writeContinue(into: &output)
        #expect(text(output) == "HTTP/1.1 100 Continue\r\n\r\n")
    }

    @Test func interimHeadThenFinalHead() {
        var writer = writer()
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 103, headers: ["link": "</a.css>; rel=preload"]), bodyLength: nil, into: &output)
        #expect(writer.framing == nil)
        writer.writeResponse(HTTPResponseHead(status: 200), body: Array("ok".utf8), into: &output)
        let expected =
            "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
            + "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        #expect(text(output) == expected)
    }

    @Test func interimHeadSkippedForHTTP10() {
        var writer = writer(.get, .http1_0)
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 103), bodyLength: nil, into: &output)
        #expect(output.isEmpty)
    }

    @Test func switchingProtocolsCompletesResponse() {
        var writer = writer()
        var output: [UInt8] = []
        let headers: HTTPHeaders = ["Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": "abc="]
        writer.writeHead(HTTPResponseHead(status: 101, headers: headers), bodyLength: nil, into: &output)
        let expected =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: abc=\r\n\r\n"
        #expect(text(output) == expected)
        #expect(writer.isComplete)
        #expect(!writer.mustCloseConnection)
    }

    @Test func closingConnectionIsAnnounced() {
        var writer = writer(keepAlive: false)
        var output: [UInt8] = []
        writer.writeResponse(HTTPResponseHead(status: 200), body: [UInt8](), into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        #expect(writer.mustCloseConnection)
    }

    @Test func headConnectionCloseClosesConnection() {
        var writer = writer()
        var output: [UInt8] = []
        writer.writeResponse(HTTPResponseHead(status: 200, headers: ["Connection": "close"]), body: [UInt8](), into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        #expect(writer.mustCloseConnection)
    }

    @Test func http10KeepAliveIsAnnounced() {
        var writer = writer(.get, .http1_0, keepAlive: true)
        var output: [UInt8] = []
        writer.writeResponse(HTTPResponseHead(status: 200), body: Array("a".utf8), into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: keep-alive\r\n\r\na")
        #expect(!writer.mustCloseConnection)
    }

    @Test func http10StreamEndsByClosing() {
        var writer = writer(.get, .http1_0, keepAlive: true)
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: nil, into: &output)
        writer.writeBody(Array("data: 1\n\n".utf8), into: &output)
        writer.writeEnd(into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\ndata: 1\n\n")
        #expect(writer.framing == .untilClose)
        #expect(writer.mustCloseConnection)
    }

    @Test func framingFieldsFromHeadAreReplaced() {
        var writer = writer()
        var output: [UInt8] = []
        let headers: HTTPHeaders = ["Content-Length": "999", "Transfer-Encoding": "gzip", "X-A": "1"]
        writer.writeResponse(HTTPResponseHead(status: 200, headers: headers), body: Array("ab".utf8), into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\nX-A: 1\r\ncontent-length: 2\r\n\r\nab")
    }

    @Test func dateFieldIsAdded() {
        var writer = writer()
        var output: [UInt8] = []
        let date = HTTPDate.imfFixdate(secondsSince1970: 784_111_777)
        writer.writeResponse(HTTPResponseHead(status: 200), body: [UInt8](), date: date, into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 0\r\n\r\n")
    }

    @Test func dateFieldFromHeadWins() {
        var writer = writer()
        var output: [UInt8] = []
        let head = HTTPResponseHead(status: 200, headers: ["Date": "custom"])
        writer.writeResponse(head, body: [UInt8](), date: "generated", into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\nDate: custom\r\ncontent-length: 0\r\n\r\n")
    }

    @Test func lineBreaksInFieldsAreNeutralized() {
        var writer = writer()
        var output: [UInt8] = []
        let head = HTTPResponseHead(status: 200, headers: ["X-Echo": "a\r\nSet-Cookie: evil\u{0}"])
        writer.writeResponse(head, body: [UInt8](), into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\nX-Echo: a  Set-Cookie: evil \r\ncontent-length: 0\r\n\r\n")
    }

    @Test func unregisteredStatusHasEmptyReason() {
        var writer = writer()
        var output: [UInt8] = []
        writer.writeResponse(HTTPResponseHead(status: 599), body: [UInt8](), into: &output)
        #expect(text(output) == "HTTP/1.1 599 \r\ncontent-length: 0\r\n\r\n")
    }

    @Test func shortBodyForcesClose() {
        var writer = writer()
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: 10, into: &output)
        writer.writeBody(Array("abc".utf8), into: &output)
        writer.writeEnd(into: &output)
        #expect(writer.mustCloseConnection)
    }

    @Test func contentLengthBodyInPieces() {
        var writer = writer()
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: 6, into: &output)
        writer.writeBody(Array("abc".utf8), into: &output)
        writer.writeBody(Array("def".utf8), into: &output)
        writer.writeEnd(into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabcdef")
        #expect(!writer.mustCloseConnection)
    }

    @Test(arguments: [0, 1, 9, 10, 99, 100, 12_345, 4_194_304])
    func contentLengthDigits(length: Int) {
        var writer = writer(.head)
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: length, into: &output)
        #expect(text(output) == "HTTP/1.1 200 OK\r\ncontent-length: \(length)\r\n\r\n")
    }

    @Test(arguments: [1, 15, 16, 255, 256, 4096, 65_535])
    func chunkSizeDigits(size: Int) {
        var writer = writer()
        var output: [UInt8] = []
        writer.writeHead(HTTPResponseHead(status: 200), bodyLength: nil, into: &output)
        let headLength = output.count
        writer.writeBody(Array(repeating: UInt8(ascii: "z"), count: size), into: &output)
        let sizeLine = text(Array(output[headLength...].prefix { $0 != UInt8(ascii: "\r") }))
        #expect(sizeLine == String(size, radix: 16))
    }

    @Test func parseErrorResponse() {
        var output: [UInt8] = []
        let error = HTTP1ParseError(status: 431, code: "too_many_headers", message: "Too many \"headers\".")
        HTTP1ResponseWriter.writeErrorResponse(for: error, into: &output)
        let body = #"{"error":{"message":"Too many \"headers\".","type":"invalid_request_error","param":null,"code":"too_many_headers"}}"#
        let expected =
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            + "content-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n" + body
        #expect(text(output) == expected)
    }

    @Test func parserErrorsBecomeResponses() {
        let outcome = parseHTTP1("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        guard let error = outcome.error else {
            Issue.record("expected a parse error")
            return
        }
        var output: [UInt8] = []
        HTTP1ResponseWriter.writeErrorResponse(for: error, date: "Thu, 01 Jan 1970 00:00:00 GMT", into: &output)
        let response = text(output)
        #expect(response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(response.contains("\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"))
        #expect(response.contains(#""code":"conflicting_length_headers""#))
        #expect(response.contains(#""message":"Content-Length and Transfer-Encoding must not both be present.""#))
    }
}
