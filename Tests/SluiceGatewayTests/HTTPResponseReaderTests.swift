import Testing

@testable import SluiceGateway

/// Builds response bytes and feeds them to a reader in pieces.
private enum ResponseFixture {
    static func completionEvent(_ text: String, finishReason: String? = nil) -> String {
        let reason = finishReason.map { "\"\($0)\"" } ?? "null"
        return "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"simulated\","
            + "\"choices\":[{\"index\":0,\"text\":\"\(text)\",\"logprobs\":null,\"finish_reason\":\(reason)}]}\n\n"
    }

    /// A streamed completion as the simulated backend sends it: one chunk per token event, then the
    /// finish event and `[DONE]` in one chunk. One chunk carries an extension and a trailer field follows.
    static let chunkedStream: [UInt8] = {
        let chunks = [
            completionEvent(" the"), completionEvent(" quick"), completionEvent(" brown"),
            completionEvent("", finishReason: "length") + "data: [DONE]\n\n",
        ]
        var text = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        for (index, chunk) in chunks.enumerated() {
            let size = String(chunk.utf8.count, radix: 16)
            text += index == 1 ? "\(size);name=value\r\n" : "\(size)\r\n"
            text += chunk + "\r\n"
        }
        text += "0\r\nx-trailer: done\r\n\r\n"
        return Array(text.utf8)
    }()

    static func contentLengthResponse(body: String, status: String = "200 OK") -> [UInt8] {
        Array("HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }

    static func chunked(_ body: String) -> [UInt8] {
        let size = String(body.utf8.count, radix: 16)
        return Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\n\(body)\r\n0\r\n\r\n".utf8)
    }

    /// Totals over all pieces, and whether the response ended before the last piece.
    struct Totals: Equatable {
        var tokens = 0
        var sawDone = false
        var isComplete = false
        var completedEarly = false
    }

    static func feed(_ pieces: [ArraySlice<UInt8>], into reader: inout HTTPResponseReader) throws -> Totals {
        var totals = Totals()
        for (index, piece) in pieces.enumerated() {
            let progress = try reader.feed(Array(piece))
            totals.tokens += progress.tokens
            totals.sawDone = totals.sawDone || progress.sawDone
            totals.isComplete = progress.isComplete
            if progress.isComplete && index < pieces.count - 1 && !pieces[(index + 1)...].allSatisfy(\.isEmpty) {
                totals.completedEarly = true
            }
        }
        return totals
    }

    static func feed(_ bytes: [UInt8]) throws -> (Totals, HTTPResponseReader) {
        var reader = HTTPResponseReader()
        let totals = try feed([bytes[...]], into: &reader)
        return (totals, reader)
    }
}

@Suite struct HTTPResponseReaderSplitTests {
    @Test func wholeChunkedStream() throws {
        let (totals, reader) = try ResponseFixture.feed(ResponseFixture.chunkedStream)
        #expect(totals == ResponseFixture.Totals(tokens: 3, sawDone: true, isComplete: true))
        #expect(reader.statusCode == 200)
        #expect(reader.framing == .chunked)
        #expect(reader.keepAlive)
    }

    @Test func chunkedStreamSplitAtEveryOffset() throws {
        let bytes = ResponseFixture.chunkedStream
        for offset in 0...bytes.count {
            var reader = HTTPResponseReader()
            let totals = try ResponseFixture.feed([bytes[..<offset], bytes[offset...]], into: &reader)
            #expect(totals.tokens == 3, "split at \(offset)")
            #expect(totals.sawDone, "split at \(offset)")
            #expect(totals.isComplete, "split at \(offset)")
            #expect(!totals.completedEarly, "split at \(offset)")
        }
    }

    @Test func chunkedStreamInOneBytePieces() throws {
        let bytes = ResponseFixture.chunkedStream
        var reader = HTTPResponseReader()
        let pieces = bytes.indices.map { bytes[$0..<($0 + 1)] }
        let totals = try ResponseFixture.feed(pieces, into: &reader)
        #expect(totals == ResponseFixture.Totals(tokens: 3, sawDone: true, isComplete: true))
    }

    @Test func contentLengthBodySplitAtEveryOffset() throws {
        let body = ResponseFixture.completionEvent(" a") + ResponseFixture.completionEvent(" b") + "data: [DONE]\n\n"
        let bytes = ResponseFixture.contentLengthResponse(body: body)
        for offset in 0...bytes.count {
            var reader = HTTPResponseReader()
            let totals = try ResponseFixture.feed([bytes[..<offset], bytes[offset...]], into: &reader)
            #expect(totals == ResponseFixture.Totals(tokens: 2, sawDone: true, isComplete: true), "split at \(offset)")
            #expect(reader.framing == .contentLength(body.utf8.count))
        }
    }

    @Test func bytesAfterResponseIgnored() throws {
        var bytes = ResponseFixture.contentLengthResponse(body: ResponseFixture.completionEvent(" a"))
        bytes += Array(ResponseFixture.completionEvent(" b").utf8)
        let (totals, _) = try ResponseFixture.feed(bytes)
        #expect(totals.tokens == 1)
        #expect(totals.isComplete)
    }

    @Test func resetReadsNextResponse() throws {
        var reader = HTTPResponseReader()
        let first = try ResponseFixture.feed([ResponseFixture.chunkedStream[...]], into: &reader)
        reader.reset()
        #expect(!reader.isComplete)
        #expect(reader.statusCode == 0)
        let second = try ResponseFixture.feed([ResponseFixture.chunkedStream[...]], into: &reader)
        #expect(first == second)
    }
}

@Suite struct HTTPResponseReaderEventTests {
    @Test func crlfEventLines() throws {
        let body = "data: {\"text\":\" a\"}\r\n\r\ndata: {\"text\":\" b\"}\r\n\r\ndata: [DONE]\r\n\r\n"
        let bytes = ResponseFixture.chunked(body)
        for offset in 0...bytes.count {
            var reader = HTTPResponseReader()
            let totals = try ResponseFixture.feed([bytes[..<offset], bytes[offset...]], into: &reader)
            #expect(totals == ResponseFixture.Totals(tokens: 2, sawDone: true, isComplete: true), "split at \(offset)")
        }
    }

    @Test func mixedLineEndings() throws {
        let body = "data: {\"text\":\" a\"}\r\n\ndata: {\"text\":\" b\"}\n\r\n"
        let (totals, _) = try ResponseFixture.feed(ResponseFixture.chunked(body))
        #expect(totals.tokens == 2)
    }

    @Test(arguments: [
        // Chat role event.
        #"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        // Chat finish event.
        #"data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        // Chat event with null content, as some servers send with tool calls.
        #"data: {"choices":[{"index":0,"delta":{"content":null},"finish_reason":null}]}"#,
        // Usage-only event.
        #"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
        // Completion finish event.
        #"data: {"choices":[{"index":0,"text":"","finish_reason":"length"}]}"#,
    ])
    func eventWithoutTextNotCounted(_ event: String) throws {
        let body = event + "\n\n" + #"data: {"choices":[{"delta":{"content":" hi"}}]}"# + "\n\n"
        let (totals, _) = try ResponseFixture.feed(ResponseFixture.chunked(body))
        #expect(totals.tokens == 1)
    }

    @Test func doneEventNotCounted() throws {
        for line in ["data: [DONE]", "data:[DONE]"] {
            let (totals, _) = try ResponseFixture.feed(ResponseFixture.chunked(line + "\n\n"))
            #expect(totals.tokens == 0, "\(line)")
            #expect(totals.sawDone, "\(line)")
        }
    }

    @Test func commentsAndOtherFieldsIgnored() throws {
        let body = ": keep-alive\n\nevent: message\nid: 7\ndata: {\"text\":\" a\"}\n\nretry: 100\n\n"
        let (totals, _) = try ResponseFixture.feed(ResponseFixture.chunked(body))
        #expect(totals.tokens == 1)
    }

    @Test func multiLineDataIsOneEvent() throws {
        let body = "data: {\"text\":\n data: \" a\"}\n\n"
        let (totals, _) = try ResponseFixture.feed(ResponseFixture.chunked(body))
        #expect(totals.tokens == 1)
    }

    @Test func eventWithoutBlankLineNotCounted() throws {
        let (totals, _) = try ResponseFixture.feed(ResponseFixture.chunked("data: {\"text\":\" a\"}\n"))
        #expect(totals.tokens == 0)
        #expect(totals.isComplete)
    }
}

@Suite struct HTTPResponseReaderFramingTests {
    @Test func errorStatusBodySkipped() throws {
        let body = "data: {\"text\":\" a\"}\n\n"
        let (totals, reader) = try ResponseFixture.feed(
            ResponseFixture.contentLengthResponse(body: body, status: "429 Too Many Requests"))
        #expect(reader.statusCode == 429)
        #expect(totals == ResponseFixture.Totals(tokens: 0, sawDone: false, isComplete: true))
    }

    @Test func statusLineWithoutReason() throws {
        let (totals, reader) = try ResponseFixture.feed(Array("HTTP/1.1 204\r\n\r\n".utf8))
        #expect(reader.statusCode == 204)
        #expect(reader.framing == HTTPResponseReader.BodyFraming.none)
        #expect(totals.isComplete)
    }

    @Test func interimResponseSkipped() throws {
        let bytes = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8) + ResponseFixture.chunkedStream
        let (totals, reader) = try ResponseFixture.feed(bytes)
        #expect(reader.statusCode == 200)
        #expect(totals.tokens == 3)
        #expect(totals.isComplete)
    }

    @Test func connectionCloseField() throws {
        let bytes = Array("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n".utf8)
        let (totals, reader) = try ResponseFixture.feed(bytes)
        #expect(totals.isComplete)
        #expect(!reader.keepAlive)
    }

    @Test func http10ClosesUnlessKeepAlive() throws {
        let (_, closing) = try ResponseFixture.feed(Array("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(!closing.keepAlive)
        let (_, kept) = try ResponseFixture.feed(
            Array("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(kept.keepAlive)
    }

    @Test func bodyDelimitedByClose() throws {
        var reader = HTTPResponseReader()
        let bytes = Array("HTTP/1.1 200 OK\r\n\r\ndata: {\"text\":\" a\"}\n\n".utf8)
        let progress = try reader.feed(bytes)
        #expect(progress.tokens == 1)
        #expect(!progress.isComplete)
        #expect(reader.framing == .untilClose)
        #expect(!reader.keepAlive)
        let ended = reader.finishAtEndOfInput()
        #expect(ended)
        #expect(reader.isComplete)
    }

    @Test func closeBeforeEndIsNotCompletion() throws {
        var reader = HTTPResponseReader()
        _ = try reader.feed(Array(ResponseFixture.chunkedStream.prefix(120)))
        let ended = reader.finishAtEndOfInput()
        #expect(!ended)
    }

    @Test func chunkedOverridesContentLength() throws {
        let chunk = "data: {\"text\":\" a\"}\n\n"
        let size = String(chunk.utf8.count, radix: 16)
        let text =
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "\(size)\r\n\(chunk)\r\n0\r\n\r\n"
        let (totals, reader) = try ResponseFixture.feed(Array(text.utf8))
        #expect(reader.framing == .chunked)
        #expect(totals.tokens == 1)
        #expect(totals.isComplete)
    }
}

@Suite struct HTTPResponseReaderErrorTests {
    private static func error(feeding text: String) -> HTTPResponseError? {
        var reader = HTTPResponseReader()
        do {
            _ = try reader.feed(Array(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: ["zz\r\n", "\r\n", "-1\r\n", "1 x\r\n", "10000000000000000\r\n"])
    func malformedChunkSize(_ line: String) {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(Self.error(feeding: head + line) == .invalidChunkSize)
    }

    @Test func chunkDataWithoutCRLF() {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY"
        #expect(Self.error(feeding: text) == .invalidChunkTerminator)
    }

    @Test(arguments: ["HTTP/2 200 OK\r\n", "HTTP/1.1 20 OK\r\n", "ICY 200 OK\r\n", "HTTP/1.1 200OK\r\n"])
    func malformedStatusLine(_ line: String) {
        #expect(Self.error(feeding: line) == .invalidStatusLine)
    }

    @Test(arguments: ["no colon", ": empty name", "bad name: x", " folded: x"])
    func malformedHeaderLine(_ line: String) {
        #expect(Self.error(feeding: "HTTP/1.1 200 OK\r\n\(line)\r\n") == .invalidHeaderLine)
    }

    @Test(arguments: ["Content-Length: ten", "Content-Length: 1, 1", "Content-Length: 1\r\nContent-Length: 2"])
    func malformedContentLength(_ field: String) {
        #expect(Self.error(feeding: "HTTP/1.1 200 OK\r\n\(field)\r\n\r\n") == .invalidContentLength)
    }

    @Test func headTooLarge() {
        let field = "x-filler: " + String(repeating: "a", count: HTTPResponseReader.maxHeadBytes)
        #expect(
            Self.error(feeding: "HTTP/1.1 200 OK\r\n\(field)") == .headTooLarge(limit: HTTPResponseReader.maxHeadBytes))
    }

    @Test func chunkLineTooLong() {
        let line = "1;" + String(repeating: "e", count: HTTPResponseReader.maxChunkLineBytes)
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(line)"
        #expect(Self.error(feeding: text) == .chunkLineTooLong(limit: HTTPResponseReader.maxChunkLineBytes))
    }

    @Test func eventLineTooLong() {
        var reader = HTTPResponseReader()
        let head = Array("HTTP/1.1 200 OK\r\n\r\ndata: ".utf8)
        let filler = [UInt8](repeating: UInt8(ascii: "a"), count: SSETokenCounter.maxLineBytes / 2)
        #expect(throws: HTTPResponseError.sseLineTooLong(limit: SSETokenCounter.maxLineBytes)) {
            _ = try reader.feed(head)
            for _ in 0..<3 {
                _ = try reader.feed(filler)
            }
        }
    }
}
