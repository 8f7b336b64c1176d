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
        let bytes = target.utf8
        guard let first = bytes.first else {
            return ("", nil)
        }

        var pathStart = bytes.startIndex
        if first == UInt8(ascii: "*") {
            return (target, nil)
        } else if first != UInt8(ascii: "/") {
            // Absolute form: the path starts after "scheme://authority".
            // Anything else is the authority form of CONNECT, which has no path.
            guard let authorityStart = indexAfterSchemeSeparator(bytes) else {
                return ("", nil)
            }
            var index = authorityStart
            while index < bytes.endIndex, bytes[index] != UInt8(ascii: "/"), bytes[index] != UInt8(ascii: "?") {
                index = bytes.index(after: index)
            }
            pathStart = index
        }

        let questionMark = bytes[pathStart...].firstIndex(of: UInt8(ascii: "?"))
        let pathEnd = questionMark ?? bytes.endIndex
        var path = String(target[pathStart..<pathEnd])
        if path.isEmpty {
            path = "/"
        }
        guard let questionMark else {
            return (path, nil)
        }
        return (path, String(target[bytes.index(after: questionMark)...]))
    }

    /// Returns the index just past `://` when `bytes` starts with a URI scheme followed by `://`.
    private static func indexAfterSchemeSeparator(_ bytes: String.UTF8View) -> String.Index? {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            let isSchemeByte =
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            if !isSchemeByte {
                break
            }
            index = bytes.index(after: index)
        }
        let separator = "://".utf8
        guard index > bytes.startIndex, bytes[index...].starts(with: separator) else {
            return nil
        }
        return bytes.index(index, offsetBy: separator.count)
    }
}
