import Foundation
import Testing

@testable import SluiceEngine

/// The tokenizer and chat-template cases of `smollm2-golden.json`.
struct TokenizerGolden: Decodable {
    struct TokenizeCase: Decodable {
        var text: String
        var ids: [Int32]
    }

    struct Message: Decodable {
        var role: String
        var content: String
    }

    struct PromptCase: Decodable {
        var messages: [Message]?
        var prompt: String
        var promptIDs: [Int32]

        enum CodingKeys: String, CodingKey {
            case messages
            case prompt
            case promptIDs = "prompt_ids"
        }
    }

    var tokenize: [TokenizeCase]
    var greedy: [PromptCase]
}

/// The test model's tokenizer and the reference cases, loaded once per test process.
enum TokenizerFixtures {
    private static let loadedTokenizer = Result { try BPETokenizer(gguf: TestResources.openModelFile()) }

    static func tokenizer() throws -> BPETokenizer {
        try loadedTokenizer.get()
    }

    /// Reads the reference cases, failing with a message naming the path when the file is missing.
    static func golden() throws -> TokenizerGolden {
        let url = TestResources.referenceDirectory.appendingPathComponent("smollm2-golden.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TestResources.MissingResource(
                description: "reference data not found at \(url.path): clone the shared folder next to the "
                    + "repository or set SLUICE_REFERENCE_DIR")
        }
        return try JSONDecoder().decode(TokenizerGolden.self, from: data)
    }
}

@Suite("Tokenizer against llama.cpp")
struct TokenizerGoldenTests {
    @Test func tokenizeCasesMatchReference() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let golden = try TokenizerFixtures.golden()
        #expect(!golden.tokenize.isEmpty)

        for testCase in golden.tokenize {
            let ids = tokenizer.encode(testCase.text)
            #expect(ids == testCase.ids, "encoding \(testCase.text.debugDescription)")
        }
    }

    @Test func promptsMatchReferenceIDs() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let golden = try TokenizerFixtures.golden()
        #expect(!golden.greedy.isEmpty)

        for testCase in golden.greedy {
            let ids = tokenizer.encode(testCase.prompt)
            #expect(ids == testCase.promptIDs, "encoding \(testCase.prompt.debugDescription)")
        }
    }

    @Test func referenceTextsRoundTrip() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let golden = try TokenizerFixtures.golden()

        for testCase in golden.tokenize where !testCase.text.contains("<|") {
            #expect(tokenizer.decode(testCase.ids) == testCase.text)
        }
    }

    @Test func modelMetadata() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()

        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.preTokenizer == .gpt2SingleDigits)
        #expect(tokenizer.bosTokenID == 1)
        #expect(tokenizer.eosTokenID == 2)
        #expect(tokenizer.addsBOSToken == false)
        #expect(tokenizer.tokenID(of: "<|im_start|>") == 1)
        #expect(tokenizer.tokenID(of: "<|im_end|>") == 2)
        #expect(tokenizer.tokenID(of: "<|endoftext|>") == 0)
        #expect(tokenizer.endOfSequenceTokenIDs.contains(2))
        #expect(tokenizer.endOfSequenceTokenIDs.contains(0))
        #expect(!tokenizer.endOfSequenceTokenIDs.contains(1))
        #expect(tokenizer.merges.count == 48900)
    }
}
