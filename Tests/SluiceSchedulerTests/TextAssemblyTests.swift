import Testing
@testable import SluiceScheduler

@Suite struct TextAssemblyTests {
    @Test func asciiPassesThrough() {
        var assembler = UTF8Assembler()
        #expect(assembler.append(Array("hello".utf8)) == Array("hello".utf8))
        #expect(assembler.flush().isEmpty)
    }

    @Test func fourByteCharacterByteByByte() {
        var assembler = UTF8Assembler()
        let emoji = Array("😀".utf8)
        #expect(assembler.append([emoji[0]]).isEmpty)
        #expect(assembler.append([emoji[1]]).isEmpty)
        #expect(assembler.append([emoji[2]]).isEmpty)
        #expect(assembler.append([emoji[3]]) == emoji)
    }

    @Test func invalidBytesBecomeReplacementCharacter() {
        var assembler = UTF8Assembler()
        let output = assembler.append([0x41, 0xFF, 0x42])
        #expect(String(decoding: output, as: UTF8.self) == "A\u{FFFD}B")
        // A lead byte followed by a non-continuation byte is invalid at once.
        #expect(String(decoding: assembler.append([0xE2, 0x41]), as: UTF8.self) == "\u{FFFD}A")
        // Surrogate code points (ED A0..BF) are not held as a valid prefix.
        #expect(String(decoding: assembler.append([0xED, 0xA0]), as: UTF8.self) == "\u{FFFD}\u{FFFD}")
    }

    @Test func stopMatcherHoldsOnlyPossiblePrefixes() {
        var matcher = StopSequenceMatcher(stopSequences: ["###", "\n\n"])
        #expect(matcher.append(Array("ab#".utf8)) == .text(Array("ab".utf8)))
        #expect(matcher.append(Array("#c".utf8)) == .text(Array("##c".utf8)))
        #expect(matcher.append(Array("x\n".utf8)) == .text(Array("x".utf8)))
        #expect(matcher.append(Array("\nrest".utf8)) == .stopped([]))
    }

    @Test func stopMatcherPicksEarliestMatch() {
        var matcher = StopSequenceMatcher(stopSequences: ["world", "lo"])
        #expect(matcher.append(Array("hello world".utf8)) == .stopped(Array("hel".utf8)))
    }

    @Test func stopMatcherWithMultiByteStop() {
        var matcher = StopSequenceMatcher(stopSequences: ["。"])
        #expect(matcher.append(Array("文".utf8)) == .text(Array("文".utf8)))
        #expect(matcher.append(Array("。x".utf8)) == .stopped([]))
    }
}
