import SluiceNet

extension HTTPServer {
    /// Settings of an HTTP server. Every limit has a default that suits a
    /// gateway on one machine; timeouts set to nil are disabled.
    public struct Configuration: Sendable {
        /// Address to listen on: an IPv4 or IPv6 literal or a host name. Default "127.0.0.1".
        public var host = "127.0.0.1"
        /// Port to listen on; 0 picks a free port (see `HTTPServer.localAddress`). Default 8080.
        public var port = 8080
        /// Number of event loop threads when the server creates its own group.
        /// Default nil: one per CPU the process may use.
        public var threads: Int?
        /// Maximum length of the request line, CRLF included; longer gets 414. Default 8 KiB.
        public var maxRequestLineBytes = 8 * 1024
        /// Maximum size of the header section; larger gets 431. Default 32 KiB.
        public var maxHeaderBytes = 32 * 1024
        /// Maximum number of header fields; more gets 431. Default 100.
        public var maxHeaderCount = 100
        /// Maximum request body size after chunked decoding; larger gets 413. Default 4 MiB.
        public var maxBodyBytes = 4 * 1024 * 1024
        /// Maximum number of requests received on one connection and waiting
        /// for earlier responses. Past it the server stops parsing (and soon
        /// reading) until responses go out. Default 16.
        public var maxPipelinedRequests = 16
        /// How long a keep-alive connection may sit between requests, or a
        /// request body may make no progress, before it is closed. Default 60 s.
        public var idleTimeout: Duration? = .seconds(60)
        /// How long a client may take to send a whole request head once it
        /// started (408, then close), and a new connection to start its first
        /// request (closed without a response). Default 10 s.
        public var headerReadTimeout: Duration? = .seconds(10)
        /// How long output may stay blocked without progress before the
        /// connection is closed and its request cancelled. Default 30 s.
        public var writeTimeout: Duration? = .seconds(30)
        /// Bound on a streamed response's output waiting for a slow client.
        /// A stream chunk written while more than this is buffered cancels the
        /// request with `slowConsumer` and closes the connection. Default 1 MiB.
        public var maxOutboundBufferBytes = 1024 * 1024
        /// How long a graceful shutdown waits for in-flight responses before
        /// it closes the remaining connections. Default 10 s.
        public var shutdownGrace = Duration.seconds(10)
        /// Strategy for spreading accepted connections over the event loops.
        /// Default: the `TCPServer.Configuration` default.
        public var acceptMode = TCPServer.Configuration().acceptMode
        /// Length of the kernel's queue of connections not yet accepted. Default 1024.
        public var backlog: Int32 = 1024

        public init() {}

        /// The parser limits these settings imply.
        var parserLimits: HTTP1ParserLimits {
            HTTP1ParserLimits(
                maxRequestLineBytes: maxRequestLineBytes,
                maxHeaderBytes: maxHeaderBytes,
                maxHeaderCount: maxHeaderCount,
                maxBodyBytes: maxBodyBytes)
        }

        /// The socket-level settings these settings imply.
        var tcpConfiguration: TCPServer.Configuration {
            var tcp = TCPServer.Configuration()
            tcp.host = host
            tcp.port = port
            tcp.backlog = backlog
            tcp.acceptMode = acceptMode
            tcp.writeTimeout = writeTimeout
            return tcp
        }
    }
}
