import Testing
@testable import SluiceCore

@Suite struct LoggerTests {
    @Test func keyValueQuotesValuesWithSpaces() {
        #expect(Logger.quoteIfNeeded("plain") == "plain")
        #expect(Logger.quoteIfNeeded("two words") == "\"two words\"")
        #expect(Logger.quoteIfNeeded("") == "\"\"")
        #expect(Logger.quoteIfNeeded("a=b") == "\"a=b\"")
    }

    @Test func jsonStringEscapesControlCharacters() {
        #expect(Logger.jsonString("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
    }

    @Test func levelsParseByName() {
        #expect(LogLevel(name: "WARNING") == .warning)
        #expect(LogLevel(name: "verbose") == nil)
        #expect(LogLevel.debug < LogLevel.info)
    }
}
