import SluiceHTTP
import Testing

@Suite struct HTTPTypesBodyEncodingTests {
    private func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    @Test func sseSingleLine() {
        #expect(text(ServerSentEvents.encode(data: "hello")) == "data: hello\n\n")
    }

    @Test func sseEventAndID() {
        let encoded = ServerSentEvents.encode(data: "{}", event: "token", id: "7")
        #expect(text(encoded) == "event: token\nid: 7\ndata: {}\n\n")
    }

    @Test func sseSplitsEveryLineBreakKind() {
        let encoded = ServerSentEvents.encode(data: "a\nb\r\nc\rd")
        #expect(text(encoded) == "data: a\ndata: b\ndata: c\ndata: d\n\n")
    }

    @Test func sseKeepsEmptyAndSpacedLines() {
        #expect(text(ServerSentEvents.encode(data: "")) == "data: \n\n")
        #expect(text(ServerSentEvents.encode(data: "a\n")) == "data: a\ndata: \n\n")
        #expect(text(ServerSentEvents.encode(data: " x")) == "data:  x\n\n")
        #expect(text(ServerSentEvents.encode(data: "\r\n\r\n")) == "data: \ndata: \ndata: \n\n")
    }

    @Test func sseRemovesLineBreaksFromEventAndID() {
        let encoded = ServerSentEvents.encode(data: "x", event: "a\nb", id: "1\r\n2\u{0}")
        #expect(text(encoded) == "event: ab\nid: 12\ndata: x\n\n")
    }

    @Test func sseComment() {
        var buffer: [UInt8] = []
        ServerSentEvents.appendComment("ping", into: &buffer)
        #expect(text(buffer) == ": ping\n\n")
    }

    @Test func sseAppendsToExistingBuffer() {
        var buffer = Array("x".utf8)
        ServerSentEvents.append(data: "y", into: &buffer)
        #expect(text(buffer) == "xdata: y\n\n")
    }

    @Test func ndjsonLine() {
        #expect(text(NDJSON.encodeLine(#"{"a":1}"#)) == "{\"a\":1}\n")
        #expect(text(NDJSON.encodeLine("{\n  \"a\": 1\r\n}")) == "{   \"a\": 1  }\n")
    }

    @Test func openAIErrorBodyShape() {
        let body = OpenAIErrorBody.encode(message: "Bad \"x\"\n", code: "bad_x")
        let expected = #"{"error":{"message":"Bad \"x\"\n","type":"invalid_request_error","param":null,"code":"bad_x"}}"#
        #expect(text(body) == expected)
    }

    @Test func openAIErrorBodyEscapesControlsAndKeepsUnicode() {
        let body = OpenAIErrorBody.encode(message: "\u{1}\\é", type: "server_error", param: "model", code: nil)
        let expected = #"{"error":{"message":"\u0001\\é","type":"server_error","param":"model","code":null}}"#
        #expect(text(body) == expected)
    }
}
