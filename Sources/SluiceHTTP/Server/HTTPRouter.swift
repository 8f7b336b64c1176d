/// Routes requests by method and exact path to handlers.
///
/// A path with no route gets 404, and a path whose routes have other
/// methods gets 405 with an `Allow` field. HEAD uses the GET route when no
/// HEAD route exists, with the body left out of the response.
public struct HTTPRouter: Sendable {
    /// Handles one request. Runs on the request's event loop and must not
    /// block it, so long work moves to other threads and responds later
    /// through `responder` (on the loop).
    public typealias Handler = @Sendable (HTTPRequest, any HTTPResponder) -> Void

    /// The outcome of looking up a request's method and path.
    public enum Match {
        case handler(Handler)
        /// The path exists for other methods, listed for the `Allow` field.
        case methodNotAllowed(allowed: [HTTPMethod])
        case notFound
    }

    private var routes: [String: [HTTPMethod: Handler]] = [:]

    public init() {}

    /// Adds a route; a later route for the same method and path replaces an earlier one.
    /// - Parameter path: the exact path, without a query, such as `/v1/models`.
    public mutating func add(_ method: HTTPMethod, _ path: String, handler: @escaping Handler) {
        routes[path, default: [:]][method] = handler
    }

    /// Adds a GET route (which HEAD requests also reach).
    public mutating func get(_ path: String, handler: @escaping Handler) {
        add(.get, path, handler: handler)
    }

    /// Adds a POST route.
    public mutating func post(_ path: String, handler: @escaping Handler) {
        add(.post, path, handler: handler)
    }

    /// Finds the handler for `method` on `path`.
    public func match(method: HTTPMethod, path: String) -> Match {
        guard let methods = routes[path] else { return .notFound }
        if let handler = methods[method] {
            return .handler(handler)
        }
        if method == .head, let handler = methods[.get] {
            return .handler(handler)
        }

        var allowed = Array(methods.keys)
        if methods[.get] != nil && methods[.head] == nil {
            allowed.append(.head)
        }
        allowed.sort { $0.rawValue < $1.rawValue }
        return .methodNotAllowed(allowed: allowed)
    }
}
