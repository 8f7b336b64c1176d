import Testing

@testable import SluiceGateway

@Suite struct BenchOptionsTests {
    private static let required = ["--url", "http://127.0.0.1:8080/v1/completions", "--body", "{}"]

    @Test func defaults() throws {
        let options = try BenchOptions.parse(Self.required)
        #expect(options.url == BenchURL(host: "127.0.0.1", port: 8080, pathAndQuery: "/v1/completions"))
        #expect(options.body == .inline("{}"))
        #expect(options.concurrency == 64)
        #expect(options.duration == .seconds(5))
        #expect(options.warmup == .seconds(1))
        #expect(options.drain == .seconds(5))
        #expect(options.maxRequests == nil)
        #expect(options.disconnectAfter == nil)
        #expect(options.disconnectFraction == 0.5)
        #expect(!options.json)
        #expect(options.disconnectingConnections == 0)
    }

    @Test func everyFlag() throws {
        let options = try BenchOptions.parse([
            "--url=http://localhost/v1/chat/completions", "--body-file", "body.json", "--concurrency", "8",
            "--duration", "2.5", "--warmup", "0", "--drain", "250ms", "--requests", "100", "--disconnect-after", "4",
            "--disconnect-fraction", "0.25", "--json",
        ])
        #expect(options.url == BenchURL(host: "localhost", port: 80, pathAndQuery: "/v1/chat/completions"))
        #expect(options.body == .file(path: "body.json"))
        #expect(options.concurrency == 8)
        #expect(options.duration == .milliseconds(2500))
        #expect(options.warmup == .zero)
        #expect(options.drain == .milliseconds(250))
        #expect(options.maxRequests == 100)
        #expect(options.disconnectAfter == 4)
        #expect(options.disconnectFraction == 0.25)
        #expect(options.json)
        #expect(options.disconnectingConnections == 2)
    }

    @Test func disconnectingConnectionsRoundHalfToEven() throws {
        var options = BenchOptions()
        options.disconnectAfter = 4
        options.concurrency = 5
        #expect(options.disconnectingConnections == 2)
        options.concurrency = 3
        #expect(options.disconnectingConnections == 2)
        options.disconnectFraction = 1
        #expect(options.disconnectingConnections == 3)
    }

    @Test(arguments: [
        ["--body", "{}"],
        ["--url", "http://127.0.0.1/"],
        ["--url", "http://127.0.0.1/", "--body", "{}", "--body-file", "b.json"],
        ["--url", "https://127.0.0.1/", "--body", "{}"],
        ["--url", "http://127.0.0.1/", "--body", "{}", "--concurrency", "0"],
        ["--url", "http://127.0.0.1/", "--body", "{}", "--duration", "0"],
        ["--url", "http://127.0.0.1/", "--body", "{}", "--warmup", "soon"],
        ["--url", "http://127.0.0.1/", "--body", "{}", "--requests", "0"],
        ["--url", "http://127.0.0.1/", "--body", "{}", "--disconnect-after", "0"],
        ["--url", "http://127.0.0.1/", "--body", "{}", "--disconnect-fraction", "1.5"],
        ["--url", "http://127.0.0.1/", "--body", "{}", "--rate", "5"],
    ])
    func rejectsBadFlags(_ arguments: [String]) {
        #expect(throws: UsageError.self) { try BenchOptions.parse(arguments) }
    }
}

@Suite struct BenchURLTests {
    @Test(arguments: [
        (
            "http://127.0.0.1:8101/v1/completions",
            BenchURL(host: "127.0.0.1", port: 8101, pathAndQuery: "/v1/completions")
        ),
        ("HTTP://example.test", BenchURL(host: "example.test", port: 80, pathAndQuery: "/")),
        ("http://[::1]:9000/a?b=c#d", BenchURL(host: "::1", port: 9000, pathAndQuery: "/a?b=c")),
        ("http://[::1]", BenchURL(host: "::1", port: 80, pathAndQuery: "/")),
        ("http://host?x=1", BenchURL(host: "host", port: 80, pathAndQuery: "/?x=1")),
    ])
    func parses(_ text: String, _ expected: BenchURL) throws {
        #expect(try BenchURL.parse(text) == expected)
    }

    @Test(arguments: [
        "ftp://host/", "http://", "http://:80/", "http://host:0/", "http://host:70000/", "http://host:x/",
        "http://user@host/", "http://[::1/", "http://[::1]x/",
    ])
    func rejects(_ text: String) {
        #expect(throws: UsageError.self) { try BenchURL.parse(text) }
    }

    @Test func hostFieldBracketsIPv6() {
        #expect(BenchURL(host: "::1", port: 8080, pathAndQuery: "/").hostField == "[::1]:8080")
        #expect(BenchURL(host: "127.0.0.1", port: 80, pathAndQuery: "/").hostField == "127.0.0.1:80")
    }
}

@Suite struct BenchRequestTests {
    @Test func requestBytes() throws {
        let options = try BenchOptions.parse(["--url", "http://127.0.0.1:8080/v1/completions", "--body", #"{"a":1}"#])
        let request = try BenchRequest(options: options)
        let expected =
            "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
            + "Accept: text/event-stream\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        #expect(String(decoding: request.bytes, as: UTF8.self) == expected)
    }

    @Test func bodyThatIsNotJSON() throws {
        let options = try BenchOptions.parse(["--url", "http://127.0.0.1:8080/", "--body", "{model: x}"])
        #expect(throws: UsageError.self) { try BenchRequest(options: options) }
    }

    @Test func missingBodyFile() throws {
        let options = try BenchOptions.parse([
            "--url", "http://127.0.0.1:8080/", "--body-file", "/nonexistent/sluice-bench-body.json",
        ])
        do {
            _ = try BenchRequest(options: options)
            Issue.record("expected a usage error")
        } catch {
            #expect(error.message.contains("/nonexistent/sluice-bench-body.json"))
        }
    }
}
