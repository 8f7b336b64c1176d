#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reuses string literals for methods and header names that most requests
/// contain. Building a `String` from bytes costs a validation pass and, past
/// 15 bytes, an allocation, while a literal costs nothing. Only an exact,
/// case-sensitive match is reused, so names still keep their received spelling.
internal enum HTTP1CommonNames {
    static func method(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> HTTPMethod {
        switch bytes.count {
        case 3:
            if matches(bytes, "GET") { return .get }
            if matches(bytes, "PUT") { return .put }
        case 4:
            if matches(bytes, "POST") { return .post }
            if matches(bytes, "HEAD") { return .head }
        case 6:
            if matches(bytes, "DELETE") { return .delete }
        case 7:
            if matches(bytes, "OPTIONS") { return .options }
            if matches(bytes, "CONNECT") { return .connect }
        default:
            break
        }
        return HTTPMethod(rawValue: HTTP1Syntax.string(bytes))
    }

    /// Returns the field name for `bytes`, as a literal when it is a common
    /// name in Title-Case (as curl and most libraries send it) or in lowercase.
    static func fieldName(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        switch bytes.count {
        case 4:
            if matches(bytes, "Host") { return "Host" }
            if matches(bytes, "host") { return "host" }
        case 6:
            if matches(bytes, "Accept") { return "Accept" }
            if matches(bytes, "accept") { return "accept" }
            if matches(bytes, "Expect") { return "Expect" }
            if matches(bytes, "expect") { return "expect" }
            if matches(bytes, "Origin") { return "Origin" }
            if matches(bytes, "origin") { return "origin" }
        case 7:
            if matches(bytes, "Upgrade") { return "Upgrade" }
            if matches(bytes, "upgrade") { return "upgrade" }
        case 10:
            if matches(bytes, "Connection") { return "Connection" }
            if matches(bytes, "connection") { return "connection" }
            if matches(bytes, "User-Agent") { return "User-Agent" }
            if matches(bytes, "user-agent") { return "user-agent" }
        case 12:
            if matches(bytes, "Content-Type") { return "Content-Type" }
            if matches(bytes, "content-type") { return "content-type" }
        case 13:
            if matches(bytes, "Authorization") { return "Authorization" }
            if matches(bytes, "authorization") { return "authorization" }
        case 14:
            if matches(bytes, "Content-Length") { return "Content-Length" }
            if matches(bytes, "content-length") { return "content-length" }
        case 15:
            if matches(bytes, "Accept-Encoding") { return "Accept-Encoding" }
            if matches(bytes, "accept-encoding") { return "accept-encoding" }
        case 17:
            if matches(bytes, "Transfer-Encoding") { return "Transfer-Encoding" }
            if matches(bytes, "transfer-encoding") { return "transfer-encoding" }
        default:
            break
        }
        return HTTP1Syntax.string(bytes)
    }

    /// Returns whether `bytes` equals `literal` byte for byte. The caller has checked the length.
    @inline(__always)
    private static func matches(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, _ literal: StaticString) -> Bool {
        guard let base = bytes.base.baseAddress else {
            return literal.utf8CodeUnitCount == 0
        }
        return memcmp(base + bytes.startIndex, literal.utf8Start, literal.utf8CodeUnitCount) == 0
    }
}
