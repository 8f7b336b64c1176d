import Testing
import SluiceCore
@testable import SluiceGateway

@Suite struct OpenAIResponseEncoderTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func completionChunkIsValidJSONEvent() throws {
        let encoder = OpenAIResponseEncoder(kind: .completion, id: "cmpl-1", created: 5, model: "m", includeUsage: false)
        let event = text(encoder.tokenChunk("a \"quote\""))
        #expect(event.hasPrefix("data: {"))
        #expect(event.hasSuffix("}\n\n"))
        let json = try JSONParser.parse(Array(event.dropFirst(6).dropLast(2).utf8))
        guard case .array(let choices)? = json["choices"] else {
            Issue.record("choices missing")
            return
        }
        #expect(choices.first?["text"] == .string("a \"quote\""))
        #expect(choices.first?["finish_reason"] == .null)
    }

    @Test func finishWithUsageEndsWithDone() {
        let encoder = OpenAIResponseEncoder(kind: .chat, id: "c", created: 5, model: "m", includeUsage: true)
        let events = text(encoder.finishChunks(.stop, text: "", usage: Usage(promptTokens: 2, completionTokens: 3)))
        #expect(events.contains("\"finish_reason\":\"stop\""))
        #expect(events.contains("\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5}"))
        #expect(events.hasSuffix("data: [DONE]\n\n"))
    }

    @Test func errorStatusAndType() {
        #expect(OpenAIResponseEncoder.httpStatus(.queueFull) == 429)
        #expect(OpenAIResponseEncoder.httpStatus(.modelNotFound) == 404)
        #expect(OpenAIResponseEncoder.httpStatus(.contextLengthExceeded) == 400)
        #expect(OpenAIResponseEncoder.errorType(.queueFull) == "rate_limit_error")
        #expect(OpenAIResponseEncoder.errorType(.invalidRequest) == "invalid_request_error")
    }

    @Test func errorResponseCarriesRetryAfterAndParam() {
        let (head, body) = GatewayErrorResponse.make(
            GatewayError(.queueFull, "full", parameter: nil, retryAfterSeconds: 2), requestID: "r1")
        #expect(head.status == 429)
        #expect(head.headers["retry-after"] == "2")
        #expect(text(body) == #"{"error":{"message":"full","type":"rate_limit_error","param":null,"code":"queue_full"}}"#)
    }
}
