/// The method, target, version and header fields of a request, before any body.
///
/// HTTP/1.1 fills it from the request line. HTTP/2 fills it from the
/// pseudo-header fields: `:method`, `:path` as `target`, and `:authority` as a
/// `host` field.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: HTTPMethod

    /// The request-target exactly as received, such as `/v1/models?limit=5`,
    /// `http://example.com/v1/models`, `*` or, for CONNECT, `example.com:443`.
    /// Setting it updates `path` and `query`.
    public var target: String {
        didSet { (path, query) = HTTPRequestHead.splitTarget(target) }
    }

    /// The raw path of `target`, still percent-encoded, without the query.
    ///
    /// It is `/` for an absolute-form target without a path, `*` for the
    /// asterisk form, and empty for the authority form that CONNECT uses.
    public private(set) var path: String

    /// The raw text after the first `?` of `target`, or nil when there is no `?`.
    public private(set) var query: String?

    public var version: HTTPVersion
    public var headers: HTTPHeaders

    public init(method: HTTPMethod, target: String, version: HTTPVersion, headers: HTTPHeaders = HTTPHeaders()) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        (path, query) = HTTPRequestHead.splitTarget(target)
    }

    /// Whether the client allows the connection to stay open after the response.
    ///
    /// HTTP/1.1 keeps it open unless a `Connection` field lists `close`.
    /// HTTP/1.0 closes it unless a `Connection` field lists `keep-alive`.
    /// HTTP/2 and later always return true, because each request there is a
    /// stream and closing the connection is not tied to one request.
    public var keepAlive: Bool {
        if version.major >= 2 {
            return true
        }
        if headers.containsToken("close", in: "connection") {
            return false
        }
        if version >= .http1_1 {
            return true
        }
        return headers.containsToken("keep-alive", in: "connection")
    }

    /// Whether the client waits for a `100 Continue` interim response before
    /// it sends the body (`Expect: 100-continue`).
    ///
    /// Always false for HTTP/1.0, because RFC 9110 (section 10.1.1) requires
    /// servers to ignore this expectation in HTTP/1.0 requests.
    public var expectsContinue: Bool {
        version >= .http1_1 && headers.containsToken("100-continue", in: "expect")
    }

    /// Splits a request-target into its raw path and query.
    internal static func splitTarget(_ target: String) -> (path: String, query: String?) {
        var targetCopy = target
        return targetCopy.withUTF8 { bytes -> (String, String?) in
            guard let first = bytes.first else {
                return ("", nil)
            }

            var pathStart = 0
            if first == UInt8(ascii: "*") {
                return (target, nil)
            } else if first != UInt8(ascii: "/") {
                // Absolute form: the path starts after "scheme://authority".
                // Anything else is the authority form of CONNECT, which has no path.
                guard let authorityStart = offsetAfterSchemeSeparator(bytes) else {
                    return ("", nil)
                }
                pathStart = authorityStart
                while pathStart < bytes.count, bytes[pathStart] != UInt8(ascii: "/"),
                    bytes[pathStart] != UInt8(ascii: "?")
                {
                    pathStart += 1
                }
            }

            var questionMark = pathStart
            while questionMark < bytes.count, bytes[questionMark] != UInt8(ascii: "?") {
                questionMark += 1
            }

            // The common origin-form target without a query is its own path,
            // which shares the target's storage instead of copying it.
            if pathStart == 0, questionMark == bytes.count {
                return (target, nil)
            }
            let path = pathStart == questionMark ? "/" : string(bytes[pathStart..<questionMark])
            guard questionMark < bytes.count else {
                return (path, nil)
            }
            return (path, string(bytes[(questionMark + 1)...]))
        }
    }

    /// Decodes a part of a valid string that was split at ASCII bytes, so it
    /// is valid UTF-8 too.
    private static func string(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes), as: UTF8.self)
    }

    /// Returns the offset just past `://` when `bytes` starts with a URI
    /// scheme followed by `://`.
    private static func offsetAfterSchemeSeparator(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let isSchemeByte =
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            if !isSchemeByte {
                break
            }
            index += 1
        }
        guard index > 0, bytes[index...].starts(with: "://".utf8) else {
            return nil
        }
        return index + 3
    }
}
