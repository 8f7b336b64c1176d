import SluiceCore
import SluiceNet

/// An HTTP server on event loops: HTTP/1.1 now, with the connection's first
/// bytes choosing the protocol so HTTP/2 and TLS can join on the same port.
///
/// ```swift
/// var router = HTTPRouter()
/// router.get("/healthz") { _, responder in responder.send(status: 200, body: Array("ok".utf8)) }
/// let server = try HTTPServer(configuration: configuration, router: router)
/// await server.runUntilShutdownSignal()
/// ```
public final class HTTPServer: Sendable {
    public let configuration: Configuration
    /// The event loops that run the server's connections.
    public let group: EventLoopGroup
    private let ownsGroup: Bool
    private let tcpServer: TCPServer
    private let logger: Logger

    /// The address the server listens on, with the real port when 0 was requested.
    public var localAddress: SocketAddress { tcpServer.localAddress }

    /// Binds the listening socket(s) and starts serving.
    /// - Parameters:
    ///   - group: the loops to run on; nil starts a group of
    ///     `configuration.threads` loops that `shutdown` stops.
    /// - Throws: `SocketAddressError` for an unresolvable host, `SocketError` when binding fails.
    public init(configuration: Configuration = Configuration(), router: HTTPRouter, group: EventLoopGroup? = nil) throws {
        self.configuration = configuration
        if let group {
            self.group = group
            self.ownsGroup = false
        } else {
            self.group = try EventLoopGroup(threads: configuration.threads ?? EventLoopGroup.defaultThreadCount)
            self.ownsGroup = true
        }

        let contexts = self.group.loops.map {
            HTTPServerLoopContext(eventLoop: $0, configuration: configuration, router: router)
        }
        do {
            tcpServer = try TCPServer(group: self.group, configuration: configuration.tcpConfiguration) {
                // Runs on the new connection's loop.
                let context = contexts[EventLoop.current!.index]
                return ProtocolSelector(timeout: configuration.headerReadTimeout) { selected in
                    switch selected {
                    case .http1, .http2:
                        // Without an HTTP/2 handler the preface reaches the HTTP/1.1
                        // parser, which rejects it with 505 HTTP Version Not Supported.
                        return HTTP1ServerConnection(context: context)
                    case .tls:
                        return nil
                    }
                }
            }
        } catch {
            if ownsGroup {
                self.group.shutdown()
            }
            throw error
        }
        logger = Logger(label: "sluice.http").with("address", tcpServer.localAddress.description)
        logger.info("http server started", [("loops", self.group.loops.count)])
    }

    /// Shuts down gracefully within `grace`: stops accepting, lets responses
    /// in flight finish (each then closes its connection), closes what is
    /// left when `grace` ends, and stops the event loops if the server
    /// started them. Returns when all of that is done.
    public func shutdown(grace: Duration) async {
        await stopServing(grace: grace)
        stopLoopsIfOwned()
        logger.info("http server stopped")
    }

    /// Shuts down gracefully within `configuration.shutdownGrace`; see `shutdown(grace:)`.
    public func shutdown() async {
        await shutdown(grace: configuration.shutdownGrace)
    }

    /// Stops accepting and closes every connection, gracefully within `grace`.
    func stopServing(grace: Duration) async {
        await tcpServer.shutdown(grace: grace)
    }

    /// Stops the event loops if this server started them. Every connection
    /// is closed by then, so joining the loop threads takes moments.
    func stopLoopsIfOwned() {
        if ownsGroup {
            group.shutdown()
        }
    }

    /// Number of open connections, summed over the loops (may be stale by a few).
    public var openConnectionCount: Int { tcpServer.openConnectionCount }
}
