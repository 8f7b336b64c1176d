import Foundation
import SluiceCore
import Testing

@testable import SluiceEngine

/// The test model's chat template, loaded once per test process.
enum ChatTemplateFixtures {
    private static let loadedTemplate = Result { try ChatTemplate(gguf: TestResources.openModelFile()) }

    static func chatTemplate() throws -> ChatTemplate {
        let template = try loadedTemplate.get()
        return try #require(template, "the test model has no tokenizer.chat_template")
    }
}

@Suite("ChatTemplate against llama.cpp")
struct ChatTemplateGoldenTests {
    @Test func conversationsRenderReferencePrompts() throws {
        let template = try ChatTemplateFixtures.chatTemplate()
        let golden = try TokenizerFixtures.golden()
        let cases = golden.greedy.filter { $0.messages != nil }
        #expect(!cases.isEmpty)

        for testCase in cases {
            let messages = (testCase.messages ?? []).map { ChatMessage(role: $0.role, content: $0.content) }
            let prompt = try template.render(
                messages: messages, addGenerationPrompt: true, bosToken: "<|im_start|>", eosToken: "<|im_end|>")
            #expect(prompt == testCase.prompt, "rendering \(messages.map(\.content))")
        }
    }

    @Test func renderedPromptsTokenizeToReferenceIDs() throws {
        let template = try ChatTemplateFixtures.chatTemplate()
        let tokenizer = try TokenizerFixtures.tokenizer()
        let golden = try TokenizerFixtures.golden()

        for testCase in golden.greedy {
            guard let messages = testCase.messages else { continue }
            let prompt = try template.render(
                messages: messages.map { ChatMessage(role: $0.role, content: $0.content) },
                addGenerationPrompt: true, bosToken: "<|im_start|>", eosToken: "<|im_end|>")
            #expect(tokenizer.encode(prompt) == testCase.promptIDs)
        }
    }

    @Test func defaultSystemTurnOnlyWithoutSystemMessage() throws {
        let template = try ChatTemplateFixtures.chatTemplate()

        let withoutSystem = try template.render(
            messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false,
            bosToken: "", eosToken: "")
        #expect(withoutSystem.hasPrefix("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"))
        #expect(withoutSystem.hasSuffix("<|im_start|>user\nHi<|im_end|>\n"))

        let withSystem = try template.render(
            messages: [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi")],
            addGenerationPrompt: false, bosToken: "", eosToken: "")
        #expect(withSystem == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    }

    @Test func generationPromptIsOptional() throws {
        let template = try ChatTemplateFixtures.chatTemplate()
        let messages = [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "U")]

        let with = try template.render(messages: messages, addGenerationPrompt: true, bosToken: "", eosToken: "")
        let without = try template.render(messages: messages, addGenerationPrompt: false, bosToken: "", eosToken: "")
        #expect(with == without + "<|im_start|>assistant\n")
    }

    @Test func emptyConversationRendersPromptOnly() throws {
        let template = try ChatTemplateFixtures.chatTemplate()
        let prompt = try template.render(messages: [], addGenerationPrompt: true, bosToken: "", eosToken: "")
        #expect(prompt == "<|im_start|>assistant\n")
    }
}
