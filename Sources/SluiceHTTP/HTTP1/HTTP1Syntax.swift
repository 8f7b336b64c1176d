/// Byte classes of the HTTP/1.1 grammar (RFC 9110 and RFC 9112) and of
/// URIs (RFC 3986).
internal enum HTTP1Syntax {
    static let carriageReturn = UInt8(ascii: "\r")
    static let lineFeed = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let semicolon = UInt8(ascii: ";")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let percent = UInt8(ascii: "%")

    /// Returns whether `byte` is a `tchar`, a character of a token such as a method
    /// or field name: a letter, a digit or one of ``!#$%&'*+-.^_`|~``.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        isInSet(byte, low: 0x03FF_6CFA_0000_0000, high: 0x57FF_FFFF_C7FF_FFFE)
    }

    @inline(__always)
    static func isSpaceOrTab(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Returns the value of a hexadecimal digit, or nil when `byte` is not one.
    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    /// Returns whether `byte` may appear in a field value: visible ASCII, space, tab,
    /// or `obs-text` (0x80 to 0xFF). NUL, CR, LF, the other controls and DEL may not.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        (byte >= 0x20 && byte != 0x7F) || byte == tab
    }

    /// Returns whether `byte` may appear in a request-target: a letter, a digit, one
    /// of `-._~!$&'()*+,;=:@/?%[]`. These are the characters of RFC 3986 that
    /// a request-target can contain, with `%` for percent-encoding. `#` is
    /// excluded because a request-target never carries a fragment.
    @inline(__always)
    static func isRequestTargetByte(_ byte: UInt8) -> Bool {
        isInSet(byte, low: 0xAFFF_FFF2_0000_0000, high: 0x47FF_FFFE_AFFF_FFFF)
    }

    /// Returns whether `byte` may appear in a `Host` value (`uri-host [ ":" port ]`):
    /// the request-target characters except `/`, `?` and `@`.
    @inline(__always)
    static func isHostByte(_ byte: UInt8) -> Bool {
        isInSet(byte, low: 0x2FFF_7FF2_0000_0000, high: 0x47FF_FFFE_AFFF_FFFE)
    }

    /// Tests membership in a set of ASCII bytes given as a 128-bit mask: bit
    /// `n` of `low` stands for byte `n`, and bit `n` of `high` for byte `64 + n`.
    /// Bytes from 128 up are never members. The tests check each mask against
    /// its list of characters.
    @inline(__always)
    static func isInSet(_ byte: UInt8, low: UInt64, high: UInt64) -> Bool {
        if byte < 64 {
            return (low >> UInt64(byte)) & 1 == 1
        }
        if byte < 128 {
            return (high >> UInt64(byte - 64)) & 1 == 1
        }
        return false
    }

    /// Returns whether `byte` is `qdtext`, a character allowed unescaped inside a quoted-string.
    static func isQuotedTextByte(_ byte: UInt8) -> Bool {
        byte == tab || byte == space || byte == 0x21 || (byte >= 0x23 && byte <= 0x5B)
            || (byte >= 0x5D && byte <= 0x7E) || byte >= 0x80
    }

    /// Returns whether `bytes` equals `lowercase` when ASCII letters are compared
    /// without case. `lowercase` must be written in lowercase.
    static func equalsIgnoringCase(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        var expectedIndex = 0
        for byte in bytes {
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            guard folded == expected[expectedIndex] else { return false }
            expectedIndex += 1
        }
        return true
    }

    /// Returns `bytes` without leading and trailing spaces and tabs.
    static func trimmingSpacesAndTabs(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, isSpaceOrTab(bytes[start]) {
            start += 1
        }
        while end > start, isSpaceOrTab(bytes[end - 1]) {
            end -= 1
        }
        return bytes[start..<end]
    }

    /// Calls `body` with each element of the comma-separated list `bytes`,
    /// trimmed of spaces and tabs. Empty elements are passed too.
    static func forEachListElement<E: Error>(
        _ bytes: Slice<UnsafeBufferPointer<UInt8>>,
        _ body: (Slice<UnsafeBufferPointer<UInt8>>) throws(E) -> Void
    ) throws(E) {
        var elementStart = bytes.startIndex
        while true {
            var elementEnd = elementStart
            while elementEnd < bytes.endIndex, bytes[elementEnd] != comma {
                elementEnd += 1
            }
            try body(trimmingSpacesAndTabs(bytes[elementStart..<elementEnd]))
            guard elementEnd < bytes.endIndex else { return }
            elementStart = elementEnd + 1
        }
    }

    /// Decodes bytes of a field or request line as a string. Valid UTF-8
    /// stays as it is, and each invalid sequence in `obs-text` becomes U+FFFD.
    static func string(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes), as: UTF8.self)
    }

    /// Describes untrusted bytes for an error message: at most 64 bytes,
    /// with controls and non-ASCII bytes written as `\xNN`.
    static func printable(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        let hexDigits = Array("0123456789ABCDEF".utf8)
        var text: [UInt8] = []
        for byte in bytes.prefix(64) {
            if byte >= 0x20 && byte < 0x7F {
                text.append(byte)
            } else {
                text.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), hexDigits[Int(byte >> 4)]])
                text.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        if bytes.count > 64 {
            text.append(contentsOf: "...".utf8)
        }
        return String(decoding: text, as: UTF8.self)
    }
}
