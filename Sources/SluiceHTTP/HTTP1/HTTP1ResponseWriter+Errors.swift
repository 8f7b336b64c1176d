extension HTTP1ResponseWriter {
    /// Appends the response to a request that the parser rejected: the
    /// error's status, `connection: close`, and an OpenAI error object whose
    /// `code` is the error's stable name.
    ///
    /// The connection must close after sending it, because the parser cannot
    /// find the start of the next request after an error.
    public static func writeErrorResponse(for error: HTTP1ParseError, date: String? = nil, into buffer: inout [UInt8]) {
        let body = OpenAIErrorBody.encode(message: error.message, type: "invalid_request_error", code: error.code)
        let headers: HTTPHeaders = ["content-type": OpenAIErrorBody.contentType]

        // The method may be unknown, so the response is written as for a GET,
        // with its body.
        var writer = HTTP1ResponseWriter(requestMethod: .get, requestVersion: .http1_1, keepAlive: false)
        writer.writeResponse(HTTPResponseHead(status: error.status, headers: headers), body: body, date: date, into: &buffer)
    }
}
