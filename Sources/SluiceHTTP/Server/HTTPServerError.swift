/// An error response the server sends on its own: a rejected request, an
/// unknown route, a timeout.
struct HTTPServerError: Sendable {
    var status: Int
    /// Stable snake_case name, sent as the error object's `code` and used as a metric label.
    var code: String
    var message: String
    /// Extra response fields, such as `Allow` for 405.
    var headers = HTTPHeaders()

    static func parse(_ error: HTTP1ParseError) -> HTTPServerError {
        HTTPServerError(status: error.status, code: error.code, message: error.message)
    }

    static func notFound(_ path: String) -> HTTPServerError {
        HTTPServerError(
            status: 404, code: "not_found",
            message: "No route matches the path '\(path)'; check the URL.")
    }

    static func methodNotAllowed(_ method: HTTPMethod, allowed: [HTTPMethod]) -> HTTPServerError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPServerError(
            status: 405, code: "method_not_allowed",
            message: "The method \(method.rawValue) is not allowed on this path; use one of: \(list).",
            headers: HTTPHeaders([("allow", list)]))
    }

    static func requestTimeout(readingBody: Bool) -> HTTPServerError {
        HTTPServerError(
            status: 408, code: "request_timeout",
            message: readingBody
                ? "The request body stopped arriving before it was complete; send the whole body without pausing."
                : "The request head did not arrive in time; send the request line and headers without pausing.")
    }
}
