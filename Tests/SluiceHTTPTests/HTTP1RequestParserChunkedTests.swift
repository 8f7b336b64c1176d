import SluiceHTTP
import Testing

@Suite struct HTTP1RequestParserChunkedTests {
    static let head = "POST /v1/generate HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test func chunksAreDecoded() {
        let outcome = parseHTTP1(Self.head + "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.bodies == ["hello world"])
        #expect(outcome.events.last == .end(trailers: nil))
    }

    @Test func chunkSizesAreHexadecimal() {
        let data = String(repeating: "x", count: 0x1A)
        let outcome = parseHTTP1(Self.head + "1a\r\n\(data)\r\n001A\r\n\(data)\r\n0000\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.bodies == [data + data])
    }

    @Test func emptyChunkedBody() {
        let outcome = parseHTTP1(Self.head + "0\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.events.count == 2)
        #expect(outcome.events.last == .end(trailers: nil))
    }

    @Test(arguments: [
        "5;name\r\n",
        "5;name=value\r\n",
        "5 ; a ; b = c\r\n",
        "5;\tquoted=\"a \\\" b;c\"\r\n",
        "5;a=\"\";b=token!#\r\n",
    ])
    func chunkExtensionsAreIgnored(sizeLine: String) {
        let outcome = parseHTTP1(Self.head + sizeLine + "hello\r\n0;last=1\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.bodies == ["hello"])
    }

    @Test func trailersEndTheMessage() throws {
        let outcome = parseHTTP1(Self.head + "3\r\nabc\r\n0\r\nX-Checksum: 99\r\nX-Count:  3 \r\n\r\n")
        #expect(outcome.error == nil)
        guard case .end(let trailers)? = outcome.events.last else {
            Issue.record("expected the end event last")
            return
        }
        let fields = try #require(trailers)
        #expect(fields.map(\.name) == ["X-Checksum", "X-Count"])
        #expect(fields["x-count"] == "3")
    }

    @Test func transferCodingNameIgnoresCase() {
        let input = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        let outcome = parseHTTP1(input)
        #expect(outcome.error == nil)
        #expect(outcome.bodies == ["hi"])
    }

    @Test func chunkedBodyByteByByte() {
        let input = Self.head + "5;x=\"y\"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n" + Self.head + "0\r\n\r\n"
        let whole = parseHTTP1(input)
        #expect(whole.error == nil)
        #expect(whole.heads.count == 2)
        #expect(parseHTTP1(input, pieceSize: 1) == whole)
    }

    @Test(arguments: [
        ("non-hex size", "zz\r\n", 400, "invalid_chunk_size"),
        ("empty size line", "\r\nhello\r\n", 400, "invalid_chunk_size"),
        ("negative size", "-5\r\n", 400, "invalid_chunk_size"),
        ("hex prefix", "0x5\r\n", 400, "invalid_chunk_size"),
        ("space after size", "5 \r\nhello\r\n0\r\n\r\n", 400, "invalid_chunk_size"),
        ("space before size", " 5\r\nhello\r\n0\r\n\r\n", 400, "invalid_chunk_size"),
        ("overflowing size", "fffffffffffffffff\r\n", 400, "invalid_chunk_size"),
        ("extension without name", "5;\r\nhello\r\n", 400, "invalid_chunk_size"),
        ("extension without value", "5;a=\r\nhello\r\n", 400, "invalid_chunk_size"),
        ("unterminated quoted value", "5;a=\"b\r\nhello\r\n", 400, "invalid_chunk_size"),
        ("control in extension", "5;a\u{1}\r\nhello\r\n", 400, "invalid_chunk_size"),
        ("bare LF after size", "5\nhello\r\n", 400, "bare_line_feed"),
        ("data longer than size", "5\r\nhello!\r\n0\r\n\r\n", 400, "missing_chunk_data_crlf"),
        ("data shorter than size", "5\r\nhell\r\n0\r\n\r\n", 400, "missing_chunk_data_crlf"),
        ("bare LF after data", "5\r\nhello\n0\r\n\r\n", 400, "missing_chunk_data_crlf"),
        ("bare LF after last chunk", "0\r\n\n", 400, "bare_line_feed"),
        ("folded trailer", "0\r\nX-A: 1\r\n 2\r\n\r\n", 400, "obsolete_line_folding"),
        ("invalid trailer name", "0\r\nX A: 1\r\n\r\n", 400, "invalid_header_name"),
        ("NUL in trailer", "0\r\nX-A: \u{0}\r\n\r\n", 400, "invalid_header_value"),
    ] as [(String, String, Int, String)])
    func chunkErrors(name: String, body: String, status: Int, code: String) {
        for pieceSize in [nil, 1] {
            let outcome = parseHTTP1(Self.head + body, pieceSize: pieceSize)
            #expect(outcome.error?.status == status, "\(name): \(outcome)")
            #expect(outcome.error?.code == code, "\(name): \(outcome)")
        }
    }

    @Test func chunkedBodyLimit() {
        let limits = HTTP1ParserLimits(maxBodyBytes: 8)
        let atLimit = parseHTTP1(Self.head + "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n", limits: limits)
        let overLimit = parseHTTP1(Self.head + "4\r\nabcd\r\n5\r\nefghi\r\n0\r\n\r\n", limits: limits)
        #expect(atLimit.error == nil)
        #expect(overLimit.error?.status == 413)
        #expect(overLimit.error?.code == "payload_too_large")
        // The chunk that passes the limit is rejected from its size line, before its data.
        #expect(overLimit.bodies == ["abcd"])
    }

    @Test func hugeChunkSizeIsRejectedByLimit() {
        let outcome = parseHTTP1(Self.head + "7fffffffffffffff\r\n")
        #expect(outcome.error?.status == 413)
    }

    @Test func chunkLineLimit() {
        let limits = HTTP1ParserLimits(maxChunkLineBytes: 16)
        // "5;abcdefghijkl\r\n" is exactly 16 bytes.
        let atLimit = parseHTTP1(Self.head + "5;abcdefghijkl\r\nhello\r\n0\r\n\r\n", limits: limits)
        let overLimit = parseHTTP1(Self.head + "5;abcdefghijklm\r\nhello\r\n0\r\n\r\n", limits: limits)
        #expect(atLimit.error == nil)
        #expect(overLimit.error?.status == 400)
        #expect(overLimit.error?.code == "chunk_line_too_long")
    }

    @Test func trailersShareTheHeaderByteLimit() {
        // The header section of `head` takes 39 bytes, so a 60-byte limit leaves
        // 21 for the trailer section: "X: " + 14 digits + CRLF, then the final CRLF.
        let limits = HTTP1ParserLimits(maxHeaderBytes: 60)
        let fits = parseHTTP1(Self.head + "0\r\nX: 12345678901234\r\n\r\n", limits: limits)
        let tooLarge = parseHTTP1(Self.head + "0\r\nX: 123456789012345\r\n\r\n", limits: limits)
        #expect(fits.error == nil)
        #expect(tooLarge.error?.status == 431)
        #expect(tooLarge.error?.code == "header_section_too_large")
    }

    @Test func trailersShareTheHeaderCountLimit() {
        let limits = HTTP1ParserLimits(maxHeaderCount: 3)
        let fits = parseHTTP1(Self.head + "0\r\nA: 1\r\n\r\n", limits: limits)
        let tooMany = parseHTTP1(Self.head + "0\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits)
        #expect(fits.error == nil)
        #expect(tooMany.error?.status == 431)
        #expect(tooMany.error?.code == "too_many_headers")
    }
}
