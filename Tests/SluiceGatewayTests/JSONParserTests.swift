import Testing
@testable import SluiceGateway

@Suite struct JSONParserTests {
    private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func parsesNestedValues() throws {
        let value = try parse(#"{"a": [1, 2.5, -3e2, true, null], "b": {"c": "d"}}"#)
        #expect(value["a"] == .array([
            .number(1, isInteger: true), .number(2.5, isInteger: false), .number(-300, isInteger: false), .bool(true),
            .null,
        ]))
        #expect(value["b"]?["c"] == .string("d"))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try parse(#""a\n\t\"\\\/\u00e9\ud83d\ude00""#) == .string("a\n\t\"\\/é😀"))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "1e", "-", "tru", "\"\\x\"", "\"\\ud800\"",
        "\"a\nb\"", "[1] 2", "{\"a\":1}}", "NaN", "\"\\u12\"",
    ])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try parse(deep) }
        let shallow = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(throws: Never.self) { try parse(shallow) }
    }

    @Test func errorNamesTheOffset() {
        do {
            _ = try JSONParser.parse(Array(#"{"a": tru}"#.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 6)
            #expect(error.description.contains("byte 6"))
        }
    }

    @Test func writerEscapesStrings() {
        var writer = JSONWriter()
        writer.string("say \"hi\"\n\u{1}é")
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #""say \"hi\"\n\u0001é""#)
    }

    @Test func writerOutputParsesBack() throws {
        let original = "tab\tquote\"backslash\\emoji😀control\u{7}"
        var writer = JSONWriter()
        writer.string(original)
        #expect(try JSONParser.parse(writer.bytes) == .string(original))
    }

    @Test(arguments: [0, 7, 10, -1, -42, 1_234_567_890, Int.max, Int.min])
    func writerFormatsIntegers(value: Int) {
        var writer = JSONWriter()
        writer.integer(value)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == String(value))
    }
}
