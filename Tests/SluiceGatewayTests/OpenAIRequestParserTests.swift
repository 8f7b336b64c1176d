import Testing
import SluiceCore
@testable import SluiceGateway

@Suite struct OpenAIRequestParserTests {
    private func parse(_ text: String, kind: OpenAIRequest.Kind = .completion) throws(GatewayError) -> OpenAIRequest {
        try OpenAIRequestParser.parse(Array(text.utf8), kind: kind)
    }

    private func error(_ text: String, kind: OpenAIRequest.Kind = .completion) -> GatewayError? {
        do {
            _ = try parse(text, kind: kind)
            return nil
        } catch {
            return error
        }
    }

    @Test func completionWithEveryField() throws {
        let request = try parse(
            #"{"model":"m","prompt":"hi","max_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":40,"seed":7,"#
                + #""stop":["\n","END"],"stream":true,"stream_options":{"include_usage":true},"user":"u","n":1}"#)
        #expect(request.model == "m")
        #expect(request.prompt == .text("hi"))
        #expect(request.maxTokens == 5)
        #expect(request.sampling.temperature == 0.5)
        #expect(request.sampling.topP == 0.9)
        #expect(request.sampling.topK == 40)
        #expect(request.sampling.seed == 7)
        #expect(request.stopSequences == ["\n", "END"])
        #expect(request.stream)
        #expect(request.includeUsage)
        #expect(request.user == "u")
    }

    @Test func chatMessagesWithTextParts() throws {
        let request = try parse(
            #"{"model":"m","messages":[{"role":"developer","content":"be brief"},"#
                + #"{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"#
                + #""max_completion_tokens":3}"#,
            kind: .chat)
        #expect(request.prompt == .chat([
            ChatMessage(role: "system", content: "be brief"), ChatMessage(role: "user", content: "ab"),
        ]))
        #expect(request.maxTokens == 3)
    }

    @Test func tokenIDPrompt() throws {
        #expect(try parse(#"{"model":"m","prompt":[1,2,3]}"#).prompt == .tokens([1, 2, 3]))
    }

    @Test(arguments: [
        (#"{"prompt":"x"}"#, "model"),
        (#"{"model":"m"}"#, "prompt"),
        (#"{"model":"m","prompt":["a","b"]}"#, "prompt"),
        (#"{"model":"m","prompt":"x","max_tokens":0}"#, "max_tokens"),
        (#"{"model":"m","prompt":"x","max_tokens":1.5}"#, "max_tokens"),
        (#"{"model":"m","prompt":"x","max_tokens":"5"}"#, "max_tokens"),
        (#"{"model":"m","prompt":"x","temperature":-1}"#, "temperature"),
        (#"{"model":"m","prompt":"x","top_p":0}"#, "top_p"),
        (#"{"model":"m","prompt":"x","n":3}"#, "n"),
        (#"{"model":"m","prompt":"x","stop":["a","b","c","d","e"]}"#, "stop"),
        (#"{"model":"m","prompt":"x","stream_options":{"include_usage":true}}"#, "stream_options"),
        (#"{"model":"m","prompt":"x","logprobs":true}"#, "logprobs"),
        (#"{"model":"m","prompt":"x","stream":"yes"}"#, "stream"),
    ])
    func badFieldIsNamed(body: String, parameter: String) {
        let failure = error(body)
        #expect(failure?.code == .invalidRequest)
        #expect(failure?.parameter == parameter)
        #expect(failure?.message.contains(parameter) == true)
    }

    @Test func badMessageRoleNamesItsPath() {
        let failure = error(#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"x"}]}"#, kind: .chat)
        #expect(failure?.parameter == "messages[1].role")
    }

    @Test func bodyThatIsNotJSON() {
        #expect(error("{")?.code == .invalidBody)
        #expect(error("[]")?.code == .invalidBody)
        #expect(error("")?.code == .invalidBody)
    }

    @Test func generateAcceptsPromptOrMessagesAndStreamsByDefault() throws {
        #expect(try parse(#"{"model":"m","prompt":"x"}"#, kind: .generate).stream)
        let chat = try parse(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#, kind: .generate)
        #expect(chat.prompt == .chat([ChatMessage(role: "user", content: "x")]))
    }
}
