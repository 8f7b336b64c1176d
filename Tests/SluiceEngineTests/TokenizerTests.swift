import Foundation
import Testing

@testable import SluiceEngine

@Suite("BPETokenizer")
struct TokenizerTests {
    /// Texts chosen to stress the pre-tokenizer, the byte-level alphabet and UTF-8 handling.
    static let hardTexts: [String] = [
        "",
        " ",
        "     ",
        "\n",
        "\n\n\n  \n\t\t \r\n",
        "a  b   c    d",
        "trailing   ",
        "   leading",
        "emoji 🤗🚀👩‍💻👍🏽 and flags 🇫🇷🇯🇵",
        "日本語のテキストと中文混合，标点符号。",
        "한국어 텍스트",
        "e\u{301} a\u{308} combining: \u{301}\u{302}\u{303}",
        "Zalgo: Z\u{36B}\u{33E}\u{34C}a\u{36C}\u{34A}l\u{314}g\u{31E}o",
        "control\u{0}chars\u{1}\u{7}\u{8}\u{1B}[0m\u{7F}",
        "nbsp\u{A0}and\u{2003}em\u{3000}ideographic space",
        "line\u{2028}separator\u{2029}paragraph\u{85}next",
        "Ünïcödé ÅÄÖ ß ẞ ǅ ǈ ǋ",
        "numbers ½ ² ³ ٣ ४ Ⅻ 1,234.56e-7",
        "'s 't 're 've 'm 'll 'd 'S 'T 'x '",
        "don't stop-believin' — it’s “fine”",
        "<|im_start|>user\nhi<|im_end|><|im_start|>",
        "<|im_start|<|im_end||><<|endoftext|>>",
        "math: ∀x∈ℝ, x² ≥ 0 ⇒ √x ∈ ℂ",
        "𝕳𝖊𝖑𝖑𝖔 𝟘𝟙𝟚 𐍈",
        "a" + String(repeating: "b", count: 3000) + "c",
        String(repeating: "!?", count: 700),
        String(repeating: " ", count: 1000) + "x",
        String(repeating: "🙂", count: 300),
    ]

    @Test func hardTextsRoundTrip() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()

        for text in Self.hardTexts {
            let ids = tokenizer.encode(text, parseSpecialTokens: false)
            #expect(tokenizer.decode(ids) == text, "round trip of \(text.debugDescription)")
        }
    }

    /// Returns the bytes the vocabulary has no token for, which encoding drops.
    static func bytesWithoutToken(_ tokenizer: BPETokenizer) -> Set<UInt8> {
        Set((0...255).filter { tokenizer.byteTokens[$0] == BPEMerger.noToken }.map { UInt8($0) })
    }

    @Test func bytesWithoutTokenAreKnown() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        // Six control characters, two lead bytes of planes 4 to 11 (where Unicode
        // assigns nothing), and the bytes that never occur in UTF-8.
        let expected = Set<UInt8>([0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2]).union(0xF5...0xFF)
        #expect(Self.bytesWithoutToken(tokenizer) == expected)
    }

    @Test func everyASCIIByteRoundTrips() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let missing = Self.bytesWithoutToken(tokenizer)

        for value in UInt8(0)..<0x80 {
            let text = "x" + String(UnicodeScalar(value)) + "y"
            let expected = missing.contains(value) ? "xy" : text
            #expect(tokenizer.decode(tokenizer.encode(text)) == expected, "round trip of byte \(value)")
        }
    }

    @Test func randomScalarsRoundTrip() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let missing = Self.bytesWithoutToken(tokenizer)
        var generator = TokenizerTestRandom(seed: 0x5EED)

        for _ in 0..<300 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int(generator.next() % 40) {
                let value: UInt32
                switch generator.next() % 4 {
                case 0: value = UInt32(generator.next() % 0x80)
                case 1: value = UInt32(generator.next() % 0x800)
                case 2: value = UInt32(generator.next() % 0x10000)
                default: value = UInt32(generator.next() % 0x110000)
                }
                if let scalar = Unicode.Scalar(value), !String(scalar).utf8.contains(where: missing.contains) {
                    scalars.append(scalar)
                }
            }
            let text = String(scalars)
            let ids = tokenizer.encode(text, parseSpecialTokens: false)
            #expect(tokenizer.decode(ids) == text, "round trip of \(text.debugDescription)")
        }
    }

    @Test func specialTokensParsedInRawText() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()

        #expect(tokenizer.encode("<|im_start|><|im_end|><|endoftext|>") == [1, 2, 0])
        #expect(tokenizer.encode("a<|im_end|>b") == [81, 2, 82])

        let unparsed = tokenizer.encode("<|im_end|>", parseSpecialTokens: false)
        #expect(!unparsed.contains(2))
        #expect(tokenizer.decode(unparsed) == "<|im_end|>")
    }

    @Test func specialTokensDecodeToNothing() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()

        #expect(tokenizer.isSpecial(1))
        #expect(tokenizer.isSpecial(2))
        #expect(!tokenizer.isSpecial(81))
        #expect(tokenizer.decodeBytes(1).isEmpty)
        #expect(tokenizer.decodeBytes(2).isEmpty)
        #expect(tokenizer.decode([1, 4093, 198, 6004, 2]) == "user\nhi")
    }

    @Test func invalidIDsDecodeToNothing() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()

        #expect(tokenizer.decodeBytes(-1).isEmpty)
        #expect(tokenizer.decodeBytes(Int32(tokenizer.vocabularySize)).isEmpty)
        #expect(tokenizer.decode([-5, 81, 1_000_000]) == "a")
        #expect(!tokenizer.isSpecial(-1))
        #expect(tokenizer.tokenText(-1) == nil)
    }

    @Test func multiByteCharacterSplitAcrossTokens() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        // "日" is E6 97 A5; the reference encodes it as two tokens.
        let ids = tokenizer.encode("日")
        #expect(ids == [23274, 115])

        let first = tokenizer.decodeBytes(ids[0])
        let second = tokenizer.decodeBytes(ids[1])
        #expect(first == [0xE6, 0x97])
        #expect(second == [0xA5])
        #expect(String(validating: first, as: UTF8.self) == nil)
        #expect(String(decoding: first + second, as: UTF8.self) == "日")
    }

    @Test func emojiBytesAcrossTokens() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let text = "🤗"
        let ids = tokenizer.encode(text)
        #expect(ids.count > 1)

        let bytes = ids.flatMap { tokenizer.decodeBytes($0) }
        #expect(bytes == Array(text.utf8))
    }

    @Test func digitsSplitIndividually() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let ids = tokenizer.encode("2026")
        #expect(ids.map { tokenizer.decode([$0]) } == ["2", "0", "2", "6"])
    }

    @Test func tokenIDLookup() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()

        #expect(tokenizer.tokenID(of: "a") == 81)
        #expect(tokenizer.tokenID(of: "Ġ") == 216)
        #expect(tokenizer.tokenID(of: "not a token at all") == nil)
        #expect(tokenizer.tokenText(216) == "Ġ")
        #expect(tokenizer.tokenType(2) == .control)
        #expect(tokenizer.tokenType(81) == .normal)
    }

    @Test func encodingLongPromptIsFast() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let paragraph = "The quick brown fox, 42 times, jumps over the lazy dog's back; naïve café résumé. "
        let text = String(repeating: paragraph, count: 25)
        #expect(text.count > 2000)

        _ = tokenizer.encode(text)
        let clock = ContinuousClock()
        let runs = 20
        let elapsed = clock.measure {
            for _ in 0..<runs {
                _ = tokenizer.encode(text)
            }
        }
        // A generous bound, so that a loaded machine does not fail it: the
        // encoding path is meant to take well under a millisecond here.
        #expect(elapsed / runs < .milliseconds(10), "encoding \(text.count) characters took \(elapsed / runs)")
    }
}

@Suite("BPETokenizer on a toy vocabulary")
struct TokenizerToyVocabularyTests {
    /// Builds a tokenizer over the 256 byte symbols, the tokens the merges below produce, and two special tokens.
    static func makeTokenizer(preTokenizer: String? = "gpt2") throws -> BPETokenizer {
        var tokens = ByteLevelAlphabet.symbols.map { String($0) }
        let merges = ["a b", "ab c", "Ġ a", "b c", "a a", "Ġa bc"]
        tokens += ["ab", "abc", "Ġa", "bc", "aa", "Ġabc"]
        tokens += ["<s>", "<special>"]
        var types = [BPETokenizer.TokenType](repeating: .normal, count: tokens.count)
        types[types.count - 2] = .control
        types[types.count - 1] = .userDefined
        return try BPETokenizer(
            tokens: tokens,
            tokenTypes: types,
            merges: merges,
            preTokenizer: preTokenizer,
            bosTokenID: Int32(tokens.count - 2),
            eosTokenID: Int32(tokens.count - 2)
        )
    }

    func id(_ tokenizer: BPETokenizer, _ text: String) throws -> Int32 {
        try #require(tokenizer.tokenID(of: text), "toy vocabulary lacks \(text)")
    }

    @Test func mergesApplyByRank() throws {
        let tokenizer = try Self.makeTokenizer()

        // "a b" ranks before "b c", so "abc" becomes "ab" + "c", then "abc".
        #expect(tokenizer.encode("abc") == [try id(tokenizer, "abc")])
        #expect(tokenizer.encode("abcc") == [try id(tokenizer, "abc"), try id(tokenizer, "c")])
        #expect(tokenizer.encode("bc") == [try id(tokenizer, "bc")])
        // "a b" (rank 0) beats "Ġ a" (rank 2), and "Ġ abc" has no rule, so "Ġabc" is never formed.
        #expect(tokenizer.encode(" abc") == [try id(tokenizer, "Ġ"), try id(tokenizer, "abc")])
        #expect(tokenizer.encode(" a") == [try id(tokenizer, "Ġa")])
    }

    @Test func leftmostPairWinsTie() throws {
        let tokenizer = try Self.makeTokenizer()
        #expect(tokenizer.encode("aaa") == [try id(tokenizer, "aa"), try id(tokenizer, "a")])
        #expect(tokenizer.encode("abab") == [try id(tokenizer, "ab"), try id(tokenizer, "ab")])
    }

    @Test func userDefinedTokenDecodesToText() throws {
        let tokenizer = try Self.makeTokenizer()
        let special = try #require(tokenizer.tokenID(of: "<special>"))
        let control = try #require(tokenizer.tokenID(of: "<s>"))

        #expect(tokenizer.encode("<special>") == [special])
        #expect(tokenizer.encode("<special>", parseSpecialTokens: false) == [special])
        #expect(tokenizer.decodeBytes(special) == Array("<special>".utf8))
        #expect(tokenizer.decodeBytes(control).isEmpty)
        #expect(tokenizer.endOfSequenceTokenIDs == [control])
    }

    @Test func unknownPreTokenizerRejected() {
        #expect(throws: TokenizerError.unsupportedPreTokenizer("llama-bpe")) {
            try Self.makeTokenizer(preTokenizer: "llama-bpe")
        }
    }

    @Test func malformedMergeRejected() {
        #expect(throws: TokenizerError.self) {
            try BPETokenizer(tokens: ["a", "b"], merges: ["ab"], preTokenizer: nil)
        }
    }

    @Test func outOfRangeSpecialIDRejected() {
        #expect(throws: TokenizerError.self) {
            try BPETokenizer(tokens: ["a"], merges: [], preTokenizer: nil, eosTokenID: 5)
        }
    }
}

@Suite("Pre-tokenizer")
struct TokenizerPreTokenizerTests {
    func words(_ text: String, _ rule: PreTokenizer) -> [String] {
        var scalars = ScalarBuffer()
        var wordEnds: [Int] = []
        var text = text
        return text.withUTF8 { bytes in
            scalars.load(bytes, range: 0..<bytes.count)
            rule.split(scalars, wordEnds: &wordEnds)
            var result: [String] = []
            var start = 0
            for end in wordEnds {
                let range = scalars.byteOffset(start)..<scalars.byteOffset(end)
                result.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
                start = end
            }
            return result
        }
    }

    @Test func gpt2Pattern() {
        #expect(words("Hello, world!", .gpt2) == ["Hello", ",", " world", "!"])
        #expect(words("a   b", .gpt2) == ["a", "  ", " b"])
        #expect(words("end  ", .gpt2) == ["end", "  "])
        #expect(words("x\n\ny", .gpt2) == ["x", "\n", "\n", "y"])
        #expect(words("I'm we'll they're it'S", .gpt2) == ["I", "'m", " we", "'ll", " they", "'re", " it", "'", "S"])
        #expect(words("year 2026!", .gpt2) == ["year", " 2026", "!"])
        #expect(words(" ...", .gpt2) == [" ..."])
        #expect(words("\t\tx", .gpt2) == ["\t", "\t", "x"])
    }

    @Test func singleDigitPattern() {
        #expect(words("year 2026!", .gpt2SingleDigits) == ["year", " ", "2", "0", "2", "6", "!"])
        #expect(words("x½", .gpt2SingleDigits) == ["x", "½"])
        #expect(words("a1b", .gpt2SingleDigits) == ["a", "1", "b"])
    }

    @Test func unicodeClasses() {
        #expect(ScalarClass(0x41) == .letter)
        #expect(ScalarClass(0x65E5) == .letter)  // 日
        #expect(ScalarClass(0x0663) == .number)  // Arabic-Indic three
        #expect(ScalarClass(0x216B) == .number)  // Roman numeral twelve
        #expect(ScalarClass(0x3000) == .whitespace)
        #expect(ScalarClass(0x85) == .whitespace)
        #expect(ScalarClass(0x1C) == .other)
        #expect(ScalarClass(0x301) == .other)  // combining acute accent
        #expect(ScalarClass(0x1F917) == .other)  // 🤗
    }
}

/// A small deterministic generator, so that failures reproduce.
struct TokenizerTestRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
