import SluiceHTTP
import Testing

/// A request the parser must reject, with the status and code it must reject it with.
struct HTTP1BadRequest: Sendable, CustomTestStringConvertible {
    let name: String
    let input: String
    let status: Int
    let code: String

    init(_ name: String, _ input: String, _ status: Int, _ code: String) {
        self.name = name
        self.input = input
        self.status = status
        self.code = code
    }

    var testDescription: String { name }
}

@Suite struct HTTP1RequestParserErrorTests {
    static let host = "Host: example.com\r\n"

    static let requestLineCases: [HTTP1BadRequest] = [
        .init("two spaces after method", "GET  / HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_line"),
        .init("tab separators", "GET\t/\tHTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_line"),
        .init("missing version", "GET /\r\n\(host)\r\n", 400, "invalid_request_line"),
        .init("empty method", " / HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_line"),
        .init("trailing space", "GET / HTTP/1.1 \r\n\(host)\r\n", 400, "invalid_http_version"),
        .init("method with delimiter", "G(T / HTTP/1.1\r\n\(host)\r\n", 400, "invalid_method"),
        .init("lowercase protocol", "GET / http/1.1\r\n\(host)\r\n", 400, "invalid_http_version"),
        .init("two-digit minor version", "GET / HTTP/1.10\r\n\(host)\r\n", 400, "invalid_http_version"),
        .init("version without dot", "GET / HTTP/11\r\n\(host)\r\n", 400, "invalid_http_version"),
        .init("HTTP/2.0", "GET / HTTP/2.0\r\n\(host)\r\n", 505, "http_version_not_supported"),
        .init("HTTP/1.2", "GET / HTTP/1.2\r\n\(host)\r\n", 505, "http_version_not_supported"),
        .init("HTTP/0.9", "GET / HTTP/0.9\r\n\(host)\r\n", 505, "http_version_not_supported"),
        .init("quote in target", "GET /a\"b HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("fragment in target", "GET /a#b HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("bad percent-encoding", "GET /%zz HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("truncated percent-encoding", "GET /a%2 HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("asterisk with GET", "GET * HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("asterisk with suffix", "OPTIONS *x HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("authority form with GET", "GET example.com:80 HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("origin form with CONNECT", "CONNECT / HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("CONNECT without port", "CONNECT example.com HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("ftp scheme", "GET ftp://example.com/ HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("URL without host", "GET http:///a HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("URL with user information", "GET http://u@example.com/ HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
        .init("bare LF after request line", "GET / HTTP/1.1\n\(host)\r\n", 400, "bare_line_feed"),
        .init("bare LF as first byte", "\nGET / HTTP/1.1\r\n\(host)\r\n", 400, "bare_line_feed"),
        .init("CR inside request line", "GET /\r HTTP/1.1\r\n\(host)\r\n", 400, "invalid_request_target"),
    ]

    static let headerCases: [HTTP1BadRequest] = [
        .init("space before colon", "GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", 400, "whitespace_before_colon"),
        .init("tab before colon", "GET / HTTP/1.1\r\n\(host)X-A\t: b\r\n\r\n", 400, "whitespace_before_colon"),
        .init("space inside name", "GET / HTTP/1.1\r\n\(host)X A: b\r\n\r\n", 400, "invalid_header_name"),
        .init("empty name", "GET / HTTP/1.1\r\n\(host): b\r\n\r\n", 400, "invalid_header_name"),
        .init("non-token name", "GET / HTTP/1.1\r\n\(host)X(A): b\r\n\r\n", 400, "invalid_header_name"),
        .init("missing colon", "GET / HTTP/1.1\r\n\(host)X-A b\r\n\r\n", 400, "invalid_header_line"),
        .init("folded value", "GET / HTTP/1.1\r\n\(host)X-A: b\r\n c\r\n\r\n", 400, "obsolete_line_folding"),
        .init("tab-folded value", "GET / HTTP/1.1\r\n\(host)X-A: b\r\n\tc\r\n\r\n", 400, "obsolete_line_folding"),
        .init("space before first field", "GET / HTTP/1.1\r\n \(host)\r\n", 400, "obsolete_line_folding"),
        .init("NUL in value", "GET / HTTP/1.1\r\n\(host)X-A: b\u{0}c\r\n\r\n", 400, "invalid_header_value"),
        .init("CR in value", "GET / HTTP/1.1\r\n\(host)X-A: b\rc\r\n\r\n", 400, "invalid_header_value"),
        .init("CR before CRLF", "GET / HTTP/1.1\r\n\(host)X-A: b\r\r\n\r\n", 400, "invalid_header_value"),
        .init("DEL in value", "GET / HTTP/1.1\r\n\(host)X-A: b\u{7F}\r\n\r\n", 400, "invalid_header_value"),
        .init("escape in value", "GET / HTTP/1.1\r\n\(host)X-A: \u{1B}[0m\r\n\r\n", 400, "invalid_header_value"),
        .init("bare LF after field", "GET / HTTP/1.1\r\n\(host)X-A: b\n\r\n", 400, "bare_line_feed"),
        .init("bare LF ending section", "GET / HTTP/1.1\r\n\(host)\n", 400, "bare_line_feed"),
        .init("missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "missing_host"),
        .init("two Host fields", "GET / HTTP/1.1\r\n\(host)\(host)\r\n", 400, "multiple_hosts"),
        .init("two Host fields in HTTP/1.0", "GET / HTTP/1.0\r\n\(host)\(host)\r\n", 400, "multiple_hosts"),
        .init("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid_host"),
        .init("Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid_host"),
        .init("Host with user", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "invalid_host"),
        .init("unsupported expectation", "GET / HTTP/1.1\r\n\(host)Expect: 200-ok\r\n\r\n", 417, "unsupported_expectation"),
        .init(
            "expectation beside continue",
            "GET / HTTP/1.1\r\n\(host)Expect: 100-continue, x\r\n\r\n",
            417,
            "unsupported_expectation"
        ),
    ]

    static let framingCases: [HTTP1BadRequest] = [
        .init("letters in length", "POST / HTTP/1.1\r\n\(host)Content-Length: abc\r\n\r\n", 400, "invalid_content_length"),
        .init("negative length", "POST / HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", 400, "invalid_content_length"),
        .init("signed length", "POST / HTTP/1.1\r\n\(host)Content-Length: +5\r\n\r\n", 400, "invalid_content_length"),
        .init("hex length", "POST / HTTP/1.1\r\n\(host)Content-Length: 0x5\r\n\r\n", 400, "invalid_content_length"),
        .init("space inside length", "POST / HTTP/1.1\r\n\(host)Content-Length: 5 5\r\n\r\n", 400, "invalid_content_length"),
        .init("empty length", "POST / HTTP/1.1\r\n\(host)Content-Length:\r\n\r\n", 400, "invalid_content_length"),
        .init("empty list element", "POST / HTTP/1.1\r\n\(host)Content-Length: 5,\r\n\r\n", 400, "invalid_content_length"),
        .init(
            "overflowing length",
            "POST / HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999\r\n\r\n",
            400,
            "invalid_content_length"
        ),
        .init("different lengths in a list", "POST / HTTP/1.1\r\n\(host)Content-Length: 5, 6\r\n\r\n", 400, "conflicting_content_lengths"),
        .init(
            "different length fields",
            "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
            400,
            "conflicting_content_lengths"
        ),
        .init(
            "length then chunked",
            "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "conflicting_length_headers"
        ),
        .init(
            "chunked then length",
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            400,
            "conflicting_length_headers"
        ),
        .init("gzip alone", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n", 400, "chunked_not_final"),
        .init("chunked before gzip", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", 400, "chunked_not_final"),
        .init("chunked twice", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, chunked\r\n\r\n", 400, "chunked_not_final"),
        .init(
            "chunked twice in two fields",
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "chunked_not_final"
        ),
        .init("empty transfer coding", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding:\r\n\r\n", 400, "chunked_not_final"),
        .init("chunked with parameter", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked;q=1\r\n\r\n", 400, "chunked_not_final"),
        .init(
            "gzip before chunked",
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "unsupported_transfer_encoding"
        ),
        .init(
            "gzip field before chunked field",
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            501,
            "unsupported_transfer_encoding"
        ),
        .init(
            "transfer coding in HTTP/1.0",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "transfer_encoding_in_http10"
        ),
        .init(
            "length above the body limit",
            "POST / HTTP/1.1\r\n\(host)Content-Length: 4194305\r\n\r\n",
            413,
            "payload_too_large"
        ),
    ]

    @Test(arguments: requestLineCases)
    func requestLineErrors(_ testCase: HTTP1BadRequest) {
        expectRejected(testCase)
    }

    @Test(arguments: headerCases)
    func headerErrors(_ testCase: HTTP1BadRequest) {
        expectRejected(testCase)
    }

    @Test(arguments: framingCases)
    func framingErrors(_ testCase: HTTP1BadRequest) {
        expectRejected(testCase)
    }

    /// Checks the error for the whole input and for the input fed byte by
    /// byte, and that no event of the rejected request was produced.
    private func expectRejected(_ testCase: HTTP1BadRequest) {
        for pieceSize in [nil, 1] {
            let outcome = parseHTTP1(testCase.input, pieceSize: pieceSize)
            #expect(outcome.error?.status == testCase.status, "\(outcome)")
            #expect(outcome.error?.code == testCase.code, "\(outcome)")
            #expect(outcome.events.isEmpty, "\(outcome)")
        }
    }

    @Test func errorMessagesAreSentences() {
        for testCase in Self.requestLineCases + Self.headerCases + Self.framingCases {
            let message = parseHTTP1(testCase.input).error?.message ?? ""
            #expect(message.first?.isUppercase == true, "\(testCase.name): \(message)")
            #expect(message.hasSuffix("."), "\(testCase.name): \(message)")
        }
    }

    @Test func bothLengthHeadersMessage() {
        let input = "POST / HTTP/1.1\r\n\(Self.host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        let error = parseHTTP1(input).error
        #expect(error?.message == "Content-Length and Transfer-Encoding must not both be present.")
    }

    @Test func bodyLimitRejectsBeforeBody() throws {
        var parser = HTTP1RequestParser(limits: HTTP1ParserLimits(maxBodyBytes: 10))
        parser.feed(Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n".utf8))
        do {
            _ = try parser.nextEvent()
            Issue.record("expected 413 before any body byte")
        } catch {
            #expect(error.status == 413)
            #expect(error.message == "The request body is larger than the limit of 10 bytes.")
        }
    }

    @Test func requestLineAtLimitPasses() {
        // "GET /aaa HTTP/1.1\r\n" with the path padded to exactly the limit.
        let limit = 64
        let path = "/" + String(repeating: "a", count: limit - "GET / HTTP/1.1\r\n".utf8.count)
        let limits = HTTP1ParserLimits(maxRequestLineBytes: limit)
        let atLimit = parseHTTP1("GET \(path) HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits)
        let overLimit = parseHTTP1("GET \(path)a HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits)
        #expect(atLimit.error == nil)
        #expect(overLimit.error?.status == 414)
        #expect(overLimit.error?.code == "request_line_too_long")
    }

    @Test func longRequestLineRejectedBeforeLineEnds() {
        let limits = HTTP1ParserLimits(maxRequestLineBytes: 64)
        let outcome = parseHTTP1("GET /" + String(repeating: "a", count: 100), pieceSize: 7, limits: limits)
        #expect(outcome.error?.status == 414)
    }

    @Test func headerSectionAtLimitPasses() {
        // The header section is "Host: h\r\n" (9 bytes), "X: <padding>\r\n" and the final "\r\n".
        let limit = 100
        let padding = String(repeating: "v", count: limit - 9 - 2 - "X: \r\n".utf8.count)
        let limits = HTTP1ParserLimits(maxHeaderBytes: limit)
        let atLimit = parseHTTP1("GET / HTTP/1.1\r\nHost: h\r\nX: \(padding)\r\n\r\n", limits: limits)
        let overLimit = parseHTTP1("GET / HTTP/1.1\r\nHost: h\r\nX: \(padding)v\r\n\r\n", limits: limits)
        #expect(atLimit.error == nil)
        #expect(overLimit.error?.status == 431)
        #expect(overLimit.error?.code == "header_section_too_large")
    }

    @Test func headerSectionWithoutEndIsRejected() {
        let limits = HTTP1ParserLimits(maxHeaderBytes: 256)
        let manyFields = String(repeating: "X-Filler: 0123456789\r\n", count: 20)
        let outcome = parseHTTP1("GET / HTTP/1.1\r\n\(manyFields)", pieceSize: 5, limits: limits)
        #expect(outcome.error?.status == 431)
    }

    @Test func headerCountLimit() {
        let limits = HTTP1ParserLimits(maxHeaderCount: 3)
        let three = parseHTTP1("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits)
        let four = parseHTTP1("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits)
        #expect(three.error == nil)
        #expect(four.error?.status == 431)
        #expect(four.error?.code == "too_many_headers")
    }

    @Test func http10IgnoresContinueButNotOtherExpectations() {
        let continueOutcome = parseHTTP1("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")
        let otherOutcome = parseHTTP1("GET / HTTP/1.0\r\nExpect: other\r\n\r\n")
        #expect(continueOutcome.error == nil)
        #expect(continueOutcome.heads.first?.expectsContinue == false)
        #expect(otherOutcome.error?.status == 417)
    }

    @Test func errorAfterEarlierRequestKeepsItsEvents() {
        let input = "GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET /bad HTTP/9.9\r\n\r\n"
        let outcome = parseHTTP1(input)
        #expect(outcome.heads.map(\.path) == ["/ok"])
        #expect(outcome.events.last == .end(trailers: nil))
        #expect(outcome.error?.status == 505)
    }
}
