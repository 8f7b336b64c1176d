extension HTTP1RequestParser {
    /// Parses a chunk-size line without its CRLF (RFC 9112, section 7.1):
    /// hexadecimal digits, then any chunk extensions, which are checked and ignored.
    ///
    /// - Returns: the chunk size in bytes. Zero marks the last chunk.
    internal static func parseChunkSizeLine(_ line: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTP1ParseError) -> Int {
        var index = line.startIndex
        var size = 0
        while index < line.endIndex, let digit = HTTP1Syntax.hexValue(line[index]) {
            // Shifting in another digit must stay within Int.
            guard size <= Int.max >> 4 else {
                throw .chunkSizeOverflow
            }
            size = size << 4 | digit
            index += 1
        }
        guard index > line.startIndex else {
            throw .invalidChunkSize(HTTP1Syntax.printable(line))
        }

        guard chunkExtensionsAreValid(line[index...]) else {
            throw .invalidChunkSize(HTTP1Syntax.printable(line))
        }
        return size
    }

    /// Checks `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
    ///
    /// Whitespace is allowed only around `;` and `=`, so `5 \r\n` is rejected:
    /// parsers that disagree on such lines have enabled request smuggling.
    private static func chunkExtensionsAreValid(_ extensions: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var index = extensions.startIndex
        let end = extensions.endIndex

        func skipWhitespace() {
            while index < end, HTTP1Syntax.isSpaceOrTab(extensions[index]) {
                index += 1
            }
        }

        func skipToken() -> Bool {
            let start = index
            while index < end, HTTP1Syntax.isTokenByte(extensions[index]) {
                index += 1
            }
            return index > start
        }

        func skipQuotedString() -> Bool {
            // `index` is at the opening quote.
            index += 1
            while index < end {
                let byte = extensions[index]
                if byte == HTTP1Syntax.quote {
                    index += 1
                    return true
                } else if byte == HTTP1Syntax.backslash {
                    guard index + 1 < end, HTTP1Syntax.isFieldValueByte(extensions[index + 1]) else {
                        return false
                    }
                    index += 2
                } else if HTTP1Syntax.isQuotedTextByte(byte) {
                    index += 1
                } else {
                    return false
                }
            }
            return false
        }

        while index < end {
            skipWhitespace()
            guard index < end, extensions[index] == HTTP1Syntax.semicolon else {
                return false
            }
            index += 1
            skipWhitespace()
            guard skipToken() else {
                return false
            }

            let afterName = index
            skipWhitespace()
            guard index < end, extensions[index] == HTTP1Syntax.equals else {
                index = afterName
                continue
            }
            index += 1
            skipWhitespace()
            guard index < end else {
                return false
            }
            let valueIsValid = extensions[index] == HTTP1Syntax.quote ? skipQuotedString() : skipToken()
            guard valueIsValid else {
                return false
            }
        }
        return true
    }
}
