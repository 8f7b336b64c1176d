import SluiceHTTP
import Testing

/// What a parser produced from some input: its events, with adjacent body
/// events merged so that different splits of the same input compare equal,
/// and the error that stopped it, if any.
struct HTTP1ParseOutcome: Equatable, CustomStringConvertible {
    var events: [HTTP1ParseEvent] = []
    var error: HTTP1ParseError?

    mutating func append(_ event: HTTP1ParseEvent) {
        if case .body(let bytes) = event, case .body(let previous)? = events.last {
            events[events.count - 1] = .body(previous + bytes)
        } else {
            events.append(event)
        }
    }

    var heads: [HTTPRequestHead] {
        events.compactMap { event in
            if case .head(let head) = event { return head }
            return nil
        }
    }

    var bodies: [String] {
        events.compactMap { event in
            if case .body(let bytes) = event { return String(decoding: bytes, as: UTF8.self) }
            return nil
        }
    }

    var description: String { "events: \(events), error: \(error.map(String.init(describing:)) ?? "none")" }
}

/// Feeds `input` to a new parser in pieces of `pieceSize` bytes (all at once
/// when nil) and pulls every event after each piece.
func parseHTTP1(
    _ input: [UInt8],
    pieceSize: Int? = nil,
    limits: HTTP1ParserLimits = .defaults
) -> HTTP1ParseOutcome {
    let size = max(1, pieceSize ?? input.count)
    var pieces: [ArraySlice<UInt8>] = []
    var start = 0
    while start < input.count {
        pieces.append(input[start..<min(start + size, input.count)])
        start += size
    }
    return parseHTTP1(pieces: pieces, limits: limits)
}

func parseHTTP1(_ text: String, pieceSize: Int? = nil, limits: HTTP1ParserLimits = .defaults) -> HTTP1ParseOutcome {
    parseHTTP1(Array(text.utf8), pieceSize: pieceSize, limits: limits)
}

/// Feeds each piece to a new parser and pulls every event after each one.
/// Also checks that `shouldPauseReading` is false whenever the parser waits for input.
func parseHTTP1(pieces: [ArraySlice<UInt8>], limits: HTTP1ParserLimits = .defaults) -> HTTP1ParseOutcome {
    var parser = HTTP1RequestParser(limits: limits)
    var outcome = HTTP1ParseOutcome()
    for piece in pieces {
        parser.feed(piece)
        do {
            while let event = try parser.nextEvent() {
                outcome.append(event)
            }
            #expect(!parser.shouldPauseReading)
        } catch {
            outcome.error = error
            return outcome
        }
    }
    return outcome
}

@Suite struct HTTP1RequestParserTests {
    static let pipelinedRequests =
        "GET /v1/models?limit=2 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
        + "POST /v1/completions HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n"
        + "Content-Type: application/json\r\n\r\n{\"a\":\"bcd\"}"
        + "POST /v1/generate HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "4;ext=1\r\nabcd\r\n0\r\nX-Checksum: 42\r\n\r\n"

    @Test func simpleGet() throws {
        let outcome = parseHTTP1("GET /v1/models?limit=2 HTTP/1.1\r\nHost: example.com\r\nX-Trace:  a b \t\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.events.count == 2)
        let head = try #require(outcome.heads.first)
        #expect(head.method == .get)
        #expect(head.target == "/v1/models?limit=2")
        #expect(head.path == "/v1/models")
        #expect(head.query == "limit=2")
        #expect(head.version == .http1_1)
        #expect(head.headers.map(\.name) == ["Host", "X-Trace"])
        #expect(head.headers["x-trace"] == "a b")
        #expect(head.keepAlive)
        #expect(!head.expectsContinue)
        #expect(outcome.events.last == .end(trailers: nil))
    }

    @Test func postWithContentLength() {
        let outcome = parseHTTP1("POST /v1/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        #expect(outcome.error == nil)
        #expect(outcome.bodies == ["hello"])
        #expect(outcome.events.last == .end(trailers: nil))
    }

    @Test func bodyArrivesAsItIsFed() throws {
        var parser = HTTP1RequestParser()
        parser.feed(Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabc".utf8))
        guard case .head = try parser.nextEvent() else {
            Issue.record("expected the head first")
            return
        }
        #expect(try parser.nextEvent() == .body(Array("abc".utf8)))
        #expect(try parser.nextEvent() == nil)
        parser.feed(Array("defGET".utf8))
        #expect(try parser.nextEvent() == .body(Array("def".utf8)))
        #expect(try parser.nextEvent() == .end(trailers: nil))
        #expect(try parser.nextEvent() == nil)
        #expect(parser.bufferedByteCount == 3)
    }

    @Test func byteByByteMatchesWholeInput() {
        let whole = parseHTTP1(Self.pipelinedRequests)
        let byteByByte = parseHTTP1(Self.pipelinedRequests, pieceSize: 1)
        #expect(whole.error == nil)
        #expect(whole.heads.count == 3)
        #expect(byteByByte == whole)
    }

    @Test func everySplitPointMatchesWholeInput() {
        let input = Array(Self.pipelinedRequests.utf8)
        let whole = parseHTTP1(input)
        for split in 0...input.count {
            let outcome = parseHTTP1(pieces: [input[..<split], input[split...]])
            #expect(outcome == whole, "split at byte \(split)")
        }
    }

    @Test func everyPieceSizeMatchesWholeInput() {
        let input = Array(Self.pipelinedRequests.utf8)
        let whole = parseHTTP1(input)
        for pieceSize in 1...input.count {
            #expect(parseHTTP1(input, pieceSize: pieceSize) == whole, "pieces of \(pieceSize) bytes")
        }
    }

    @Test func pipelinedRequestsInOrder() throws {
        let outcome = parseHTTP1(Self.pipelinedRequests)
        #expect(outcome.error == nil)
        let kinds = outcome.events.map { event -> String in
            switch event {
            case .head(let head): "head \(head.path)"
            case .body(let bytes): "body \(String(decoding: bytes, as: UTF8.self))"
            case .end(let trailers): "end \(trailers?["x-checksum"] ?? "-")"
            }
        }
        #expect(
            kinds == [
                "head /v1/models", "end -",
                "head /v1/completions", "body {\"a\":\"bcd\"}", "end -",
                "head /v1/generate", "body abcd", "end 42",
            ]
        )
    }

    @Test func pausedConnectionKeepsPipelinedInput() throws {
        let input = Array(Self.pipelinedRequests.utf8)
        var parser = HTTP1RequestParser()
        parser.feed(input)

        // Pull the first request only, as a connection does before it sends the response.
        guard case .head(let first) = try parser.nextEvent() else {
            Issue.record("expected the first head")
            return
        }
        #expect(first.path == "/v1/models")
        #expect(try parser.nextEvent() == .end(trailers: nil))
        #expect(parser.isBetweenMessages == false)
        #expect(parser.bufferedByteCount > 0)

        var remaining = HTTP1ParseOutcome()
        while let event = try parser.nextEvent() {
            remaining.append(event)
        }
        #expect(remaining.heads.map(\.path) == ["/v1/completions", "/v1/generate"])
        #expect(parser.isBetweenMessages)
        #expect(parser.bufferedByteCount == 0)
    }

    @Test func shouldPauseReadingBoundsBuffer() throws {
        let limits = HTTP1ParserLimits(
            maxRequestLineBytes: 64,
            maxHeaderBytes: 128,
            maxChunkLineBytes: 32,
            maxBufferedBytes: 200
        )
        let request = Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        var parser = HTTP1RequestParser(limits: limits)
        var fed = 0
        while !parser.shouldPauseReading {
            parser.feed(request)
            fed += 1
        }
        #expect(fed == 200 / request.count + 1)
        #expect(parser.bufferedByteCount >= 200)

        var ends = 0
        while let event = try parser.nextEvent() {
            if case .end = event {
                ends += 1
            }
        }
        #expect(ends == fed)
        #expect(!parser.shouldPauseReading)
    }

    @Test func pauseBoundIsAtLeastTheLineLimits() {
        let limits = HTTP1ParserLimits(
            maxRequestLineBytes: 100,
            maxHeaderBytes: 300,
            maxChunkLineBytes: 32,
            maxBufferedBytes: 10
        )
        var parser = HTTP1RequestParser(limits: limits)
        parser.feed(Array(repeating: UInt8(ascii: "a"), count: 299))
        #expect(!parser.shouldPauseReading)
        parser.feed([UInt8(ascii: "a")])
        #expect(parser.shouldPauseReading)
    }

    @Test func leadingEmptyLinesAreIgnored() {
        let outcome = parseHTTP1("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.heads.count == 1)
    }

    @Test func http10WithoutHost() throws {
        let outcome = parseHTTP1("GET / HTTP/1.0\r\n\r\n")
        #expect(outcome.error == nil)
        let head = try #require(outcome.heads.first)
        #expect(head.version == .http1_0)
        #expect(!head.keepAlive)
    }

    @Test func http10KeepAlive() throws {
        let outcome = parseHTTP1("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        let head = try #require(outcome.heads.first)
        #expect(head.keepAlive)
    }

    @Test func connectionCloseClearsKeepAlive() throws {
        let outcome = parseHTTP1("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        let head = try #require(outcome.heads.first)
        #expect(!head.keepAlive)
    }

    @Test(arguments: [
        ("GET http://example.com/v1/models?x=1 HTTP/1.1", "/v1/models", "x=1"),
        ("GET https://example.com HTTP/1.1", "/", nil),
        ("OPTIONS * HTTP/1.1", "*", nil),
        ("CONNECT example.com:443 HTTP/1.1", "", nil),
        ("CONNECT [::1]:8080 HTTP/1.1", "", nil),
        ("GET /a%2Fb;c=d,e@f:g!$&'()*+=~ HTTP/1.1", "/a%2Fb;c=d,e@f:g!$&'()*+=~", nil),
    ] as [(String, String, String?)])
    func requestTargetForms(requestLine: String, path: String, query: String?) throws {
        let outcome = parseHTTP1(requestLine + "\r\nHost: example.com\r\n\r\n")
        #expect(outcome.error == nil)
        let head = try #require(outcome.heads.first)
        #expect(head.path == path)
        #expect(head.query == query)
    }

    @Test func expectContinue() throws {
        let outcome = parseHTTP1("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
        #expect(outcome.error == nil)
        let head = try #require(outcome.heads.first)
        #expect(head.expectsContinue)
        #expect(outcome.events.count == 1)
    }

    @Test func headArrivesBeforeBodyForContinue() throws {
        var parser = HTTP1RequestParser()
        parser.feed(Array("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        guard case .head(let head) = try parser.nextEvent() else {
            Issue.record("expected the head")
            return
        }
        #expect(head.expectsContinue)
        #expect(try parser.nextEvent() == nil)
        #expect(!parser.isBetweenMessages)
    }

    @Test(arguments: ["5, 5", "5,5", "005"])
    func equalContentLengthsMerge(value: String) {
        let outcome = parseHTTP1("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(value)\r\n\r\nhello")
        #expect(outcome.error == nil)
        #expect(outcome.bodies == ["hello"])
    }

    @Test func repeatedEqualContentLengthFields() {
        let outcome = parseHTTP1("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nhi")
        #expect(outcome.error == nil)
        #expect(outcome.bodies == ["hi"])
    }

    @Test func zeroContentLengthEndsAtOnce() {
        let outcome = parseHTTP1("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.events.count == 2)
        #expect(outcome.events.last == .end(trailers: nil))
    }

    @Test func contentLengthAtBodyLimit() {
        let limits = HTTP1ParserLimits(maxBodyBytes: 5)
        let outcome = parseHTTP1("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", limits: limits)
        #expect(outcome.error == nil)
        #expect(outcome.bodies == ["hello"])
    }

    @Test func fieldValuesKeepObsText() throws {
        let input: [UInt8] = Array("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf".utf8) + [0xC3, 0xA9] + Array("\r\nX-Empty:\r\n\r\n".utf8)
        let outcome = parseHTTP1(input)
        #expect(outcome.error == nil)
        let head = try #require(outcome.heads.first)
        #expect(head.headers["x-name"] == "café")
        #expect(head.headers["x-empty"] == "")
    }

    @Test func emptyHostIsAllowed() {
        let outcome = parseHTTP1("GET / HTTP/1.1\r\nHost:\r\n\r\n")
        #expect(outcome.error == nil)
    }

    @Test func upgradeLeavesFollowingBytes() throws {
        var parser = HTTP1RequestParser()
        let request = "GET /v1/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        parser.feed(Array((request + "\u{81}\u{05}hello").utf8))
        guard case .head(let head) = try parser.nextEvent() else {
            Issue.record("expected the head")
            return
        }
        #expect(head.headers.containsToken("upgrade", in: "connection"))
        #expect(try parser.nextEvent() == .end(trailers: nil))
        #expect(parser.takeBufferedBytes() == Array("\u{81}\u{05}hello".utf8))
        #expect(parser.bufferedByteCount == 0)
    }

    @Test func errorIsTerminal() {
        var parser = HTTP1RequestParser()
        parser.feed(Array("GET / HTTP/3.0\r\n\r\n".utf8))
        #expect(throws: HTTP1ParseError.self) { try parser.nextEvent() }
        parser.feed(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        #expect(parser.bufferedByteCount == 0)
        do {
            _ = try parser.nextEvent()
            Issue.record("expected the same error again")
        } catch {
            #expect(error.status == 505)
        }
    }

    @Test func oversizedBodyWithContinueFailsAtHead() {
        let limits = HTTP1ParserLimits(maxBodyBytes: 100)
        let input = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n"
        let outcome = parseHTTP1(input, limits: limits)
        // No head event, so the connection never sends 100 Continue for it.
        #expect(outcome.events.isEmpty)
        #expect(outcome.error?.status == 413)
    }

    @Test func compactionKeepsUnparsedInput() throws {
        // Small reads that each leave a partial request force the buffer to
        // drop consumed bytes while unparsed ones remain.
        let request = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        let input = Array(String(repeating: request, count: 50).utf8)
        for pieceSize in [7, 61, 113] {
            let outcome = parseHTTP1(input, pieceSize: pieceSize)
            #expect(outcome.error == nil)
            #expect(outcome.heads.count == 50)
            #expect(outcome.bodies.allSatisfy { $0 == "abc" })
        }
    }

    @Test func betweenMessagesTracksPartialInput() throws {
        var parser = HTTP1RequestParser()
        #expect(parser.isBetweenMessages)
        parser.feed(Array("GE".utf8))
        #expect(try parser.nextEvent() == nil)
        #expect(!parser.isBetweenMessages)
    }
}
