/// The protocol logic of a connection (HTTP/1.1 now; HTTP/2 and WebSocket
/// later), driven by its `Connection` on the connection's event loop.
///
/// A connection has exactly one handler at a time. A handler may replace
/// itself with `Connection.setHandler(_:)`, which is how `ProtocolSelector`
/// hands a connection to the protocol its first bytes name, and how an
/// HTTP/1.1 upgrade would hand it to a WebSocket handler.
///
/// Every method runs on the connection's event loop. Methods may call back
/// into the connection (write, close), and `connectionDidClose` can arrive in
/// the middle of another call when the handler closes the connection itself.
public protocol ConnectionHandler: AnyObject {
    /// Called once when the handler becomes the connection's handler, before any other call.
    func handlerAdded(to connection: Connection)

    /// Delivers bytes read from the peer. `bytes` points into a buffer shared
    /// by the loop and is valid only during this call: copy what must be kept.
    func connectionDidRead(_ connection: Connection, bytes: UnsafeRawBufferPointer)

    /// Reports that `isWritable` changed: buffered output passed the
    /// connection's high-water mark, or drained below its low-water mark.
    func connectionWritabilityDidChange(_ connection: Connection)

    /// Asks the handler to wind down because the server is shutting down:
    /// accept no new requests, finish those in flight, then close. The
    /// server closes the connection anyway when its grace period ends.
    func connectionShouldQuiesce(_ connection: Connection)

    /// Reports that the connection closed. Called exactly once, as soon as
    /// the close is known. `error` is nil when this side closed it, and says
    /// why otherwise (the peer reset or closed it, a write failed or timed
    /// out, the server stopped).
    func connectionDidClose(_ connection: Connection, error: ConnectionError?)
}

extension ConnectionHandler {
    public func handlerAdded(to connection: Connection) {}

    public func connectionWritabilityDidChange(_ connection: Connection) {}

    public func connectionShouldQuiesce(_ connection: Connection) {
        connection.close()
    }
}
