import SluiceHTTP
import Testing

@Suite struct HTTPTypesTests {
    @Test func methodIsCaseSensitive() {
        #expect(HTTPMethod(rawValue: "GET") == .get)
        #expect(HTTPMethod(rawValue: "get") != .get)
        let literal: HTTPMethod = "PATCH"
        #expect(literal == .patch)
    }

    @Test func versionDescriptionAndOrder() {
        #expect(HTTPVersion.http1_1.description == "HTTP/1.1")
        #expect(HTTPVersion.http1_0 < .http1_1)
        #expect(HTTPVersion.http1_1 < .http2)
    }

    @Test func reasonPhrases() {
        #expect(HTTPStatus.reasonPhrase(for: 200) == "OK")
        #expect(HTTPStatus.reasonPhrase(for: 413) == "Content Too Large")
        #expect(HTTPStatus.reasonPhrase(for: 431) == "Request Header Fields Too Large")
        #expect(HTTPStatus.reasonPhrase(for: 505) == "HTTP Version Not Supported")
        #expect(HTTPStatus.reasonPhrase(for: 599) == "")
        #expect(HTTPResponseHead(status: 404).reasonPhrase == "Not Found")
    }

    @Test func statusesWithoutContent() {
        #expect(!HTTPStatus.allowsContent(100))
        #expect(!HTTPStatus.allowsContent(101))
        #expect(!HTTPStatus.allowsContent(204))
        #expect(!HTTPStatus.allowsContent(304))
        #expect(HTTPStatus.allowsContent(200))
        #expect(HTTPStatus.allowsContent(404))
    }

    @Test(arguments: [
        ("/v1/models", "/v1/models", nil),
        ("/v1/models?limit=5&x=%20", "/v1/models", "limit=5&x=%20"),
        ("/search?", "/search", ""),
        ("/a?b?c", "/a", "b?c"),
        ("http://example.com/v1/models?x=1", "/v1/models", "x=1"),
        ("http://example.com", "/", nil),
        ("HTTPS://example.com:8443?x", "/", "x"),
        ("*", "*", nil),
        ("example.com:443", "", nil),
    ] as [(String, String, String?)])
    func requestTargetSplit(target: String, path: String, query: String?) {
        let head = HTTPRequestHead(method: .get, target: target, version: .http1_1)
        #expect(head.path == path)
        #expect(head.query == query)
    }

    @Test func settingTargetUpdatesPath() {
        var head = HTTPRequestHead(method: .get, target: "/a?x=1", version: .http1_1)
        head.target = "/b"
        #expect(head.path == "/b")
        #expect(head.query == nil)
    }

    @Test(arguments: [
        (HTTPVersion.http1_1, nil, true),
        (.http1_1, "close", false),
        (.http1_1, "Upgrade, Close", false),
        (.http1_0, nil, false),
        (.http1_0, "keep-alive", true),
        (.http1_0, "Keep-Alive", true),
        (.http1_0, "keep-alive, close", false),
        (.http2, "close", true),
    ] as [(HTTPVersion, String?, Bool)])
    func keepAlive(version: HTTPVersion, connection: String?, expected: Bool) {
        var headers = HTTPHeaders()
        if let connection {
            headers.add(name: "Connection", value: connection)
        }
        let head = HTTPRequestHead(method: .get, target: "/", version: version, headers: headers)
        #expect(head.keepAlive == expected)
    }

    @Test func expectsContinue() {
        let headers: HTTPHeaders = ["Expect": "100-Continue"]
        let http11 = HTTPRequestHead(method: .post, target: "/", version: .http1_1, headers: headers)
        let http10 = HTTPRequestHead(method: .post, target: "/", version: .http1_0, headers: headers)
        let none = HTTPRequestHead(method: .post, target: "/", version: .http1_1)
        #expect(http11.expectsContinue)
        #expect(!http10.expectsContinue)
        #expect(!none.expectsContinue)
    }

    @Test(arguments: [
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT"),
        (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
    ])
    func imfFixdate(seconds: Int, expected: String) {
        #expect(HTTPDate.imfFixdate(secondsSince1970: seconds) == expected)
    }
}
