import Testing

@testable import SluiceHTTP

@Suite struct HTTP1SyntaxTests {
    static let letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    static let digits = "0123456789"

    /// Checks a byte-class predicate against the characters it must accept,
    /// for every byte value.
    private func expectClass(_ predicate: (UInt8) -> Bool, accepts characters: String) {
        let members = Set(characters.utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(predicate(byte) == members.contains(byte), "byte \(byte)")
        }
    }

    @Test func tokenBytes() {
        expectClass(HTTP1Syntax.isTokenByte, accepts: Self.letters + Self.digits + "!#$%&'*+-.^_`|~")
    }

    @Test func requestTargetBytes() {
        expectClass(HTTP1Syntax.isRequestTargetByte, accepts: Self.letters + Self.digits + "-._~!$&'()*+,;=:@/?%[]")
    }

    @Test func hostBytes() {
        expectClass(HTTP1Syntax.isHostByte, accepts: Self.letters + Self.digits + "-._~!$&'()*+,;=:%[]")
    }

    @Test func fieldValueBytes() {
        for byte in UInt8.min...UInt8.max {
            let expected = byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
            #expect(HTTP1Syntax.isFieldValueByte(byte) == expected, "byte \(byte)")
        }
    }

    @Test func hexValues() {
        #expect(HTTP1Syntax.hexValue(UInt8(ascii: "0")) == 0)
        #expect(HTTP1Syntax.hexValue(UInt8(ascii: "9")) == 9)
        #expect(HTTP1Syntax.hexValue(UInt8(ascii: "a")) == 10)
        #expect(HTTP1Syntax.hexValue(UInt8(ascii: "F")) == 15)
        #expect(HTTP1Syntax.hexValue(UInt8(ascii: "g")) == nil)
        #expect(HTTP1Syntax.hexValue(UInt8(ascii: "/")) == nil)
    }

    @Test func commonNamesKeepSpelling() {
        for name in ["Host", "host", "HOST", "Content-Type", "content-type", "X-Custom", "transfer-encoding"] {
            let bytes = Array(name.utf8)
            let decoded = bytes.withUnsafeBufferPointer { HTTP1CommonNames.fieldName($0[...]) }
            #expect(decoded == name)
        }
    }

    @Test func commonMethodsKeepSpelling() {
        for method in ["GET", "get", "POST", "PATCH", "OPTIONS", "CONNECT", "DELETE", "HEAD", "PUT", "BREW"] {
            let bytes = Array(method.utf8)
            let decoded = bytes.withUnsafeBufferPointer { HTTP1CommonNames.method($0[...]) }
            #expect(decoded.rawValue == method)
        }
    }
}
