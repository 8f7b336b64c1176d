/// Facts about response status codes, which every HTTP version shares.
///
/// Status codes stay plain `Int` values in the API so that an unregistered
/// code passes through unchanged.
public enum HTTPStatus {
    /// Returns the reason phrase registered for `status` in RFC 9110 (and RFC 6585,
    /// RFC 8297 and RFC 8470 for 103, 425, 428, 429, 431 and 511), or an
    /// empty string for an unregistered code. HTTP/1.1 allows an empty reason
    /// phrase, and HTTP/2 sends none.
    public static func reasonPhrase(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 103: "Early Hints"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 407: "Proxy Authentication Required"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 425: "Too Early"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        case 511: "Network Authentication Required"
        default: ""
        }
    }

    /// Returns whether `status` is informational (1xx): an interim response that a
    /// final response follows, except after 101 Switching Protocols.
    public static func isInformational(_ status: Int) -> Bool {
        (100...199).contains(status)
    }

    /// Returns whether a response with `status` can carry content. Responses with
    /// 1xx, 204 No Content or 304 Not Modified never do (RFC 9110, section 6.4.1).
    public static func allowsContent(_ status: Int) -> Bool {
        !(isInformational(status) || status == 204 || status == 304)
    }
}
