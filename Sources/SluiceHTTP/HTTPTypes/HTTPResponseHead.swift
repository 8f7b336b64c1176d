/// The status code and header fields of a response, before any body.
///
/// It carries no version: each protocol's writer adds its own framing, such
/// as the HTTP/1.1 status line or the HTTP/2 `:status` pseudo-header.
public struct HTTPResponseHead: Sendable, Equatable {
    /// The three-digit status code, such as 200.
    public var status: Int
    public var headers: HTTPHeaders

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.headers = headers
    }

    /// The standard reason phrase for `status`.
    public var reasonPhrase: String { HTTPStatus.reasonPhrase(for: status) }
}
