/// The protocol a connection's first bytes announce.
public enum SelectedProtocol: Sendable, Equatable {
    /// A TLS handshake record (first byte 0x16).
    case tls
    /// The HTTP/2 connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), sent
    /// by clients that speak HTTP/2 over cleartext without an upgrade (h2c).
    case http2
    /// Anything else, read as HTTP/1.x.
    case http1
}

/// The first handler of every connection on a port that serves several
/// protocols: it looks at the first bytes, calls `makeHandler` for the
/// handler of the protocol they announce, installs it, and passes it every
/// byte read so far.
///
/// It decides as soon as the bytes tell the protocols apart: usually at the
/// first byte, and at most after the 24 bytes of the HTTP/2 preface. When
/// `makeHandler` returns nil (a protocol this server does not serve), or no
/// decision comes within `timeout`, the connection is closed.
public final class ProtocolSelector: ConnectionHandler {
    private let makeHandler: (SelectedProtocol) -> (any ConnectionHandler)?
    private let timeout: Duration?
    private var timer: TimerHandle?
    private var pending: [UInt8] = []

    /// The HTTP/2 client connection preface (RFC 9113, section 3.4).
    public static let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    /// First byte of a TLS record carrying a handshake message (a ClientHello here).
    public static let tlsHandshakeByte: UInt8 = 0x16

    /// - Parameters:
    ///   - timeout: how long a new connection may stay silent (or send only
    ///     part of the HTTP/2 preface) before it is closed; nil waits forever.
    ///   - makeHandler: returns the handler for the selected protocol, or nil
    ///     to close the connection; called on the connection's loop.
    public init(
        timeout: Duration? = nil, makeHandler: @escaping (SelectedProtocol) -> (any ConnectionHandler)?
    ) {
        self.timeout = timeout
        self.makeHandler = makeHandler
    }

    public func handlerAdded(to connection: Connection) {
        guard let timeout else { return }
        // Strong captures: the timer is cancelled when a protocol is chosen or
        // the connection closes, and weak references would make every later
        // retain of the connection slower.
        timer = connection.eventLoop.scheduleTimer(after: timeout) {
            self.timer = nil
            connection.close()
        }
    }

    /// Returns the protocol `bytes` announce, or nil while they are a strict
    /// prefix of the HTTP/2 preface and more bytes are needed.
    public static func select(_ bytes: UnsafeRawBufferPointer) -> SelectedProtocol? {
        guard let first = bytes.first else { return nil }
        if first == tlsHandshakeByte { return .tls }
        let compared = min(bytes.count, http2Preface.count)
        for index in 0..<compared where bytes[index] != http2Preface[index] {
            return .http1
        }
        return compared == http2Preface.count ? .http2 : nil
    }

    public func connectionDidRead(_ connection: Connection, bytes: UnsafeRawBufferPointer) {
        if pending.isEmpty {
            guard let selected = Self.select(bytes) else {
                pending.append(contentsOf: bytes)
                return
            }
            install(selected, on: connection, firstBytes: bytes)
            return
        }

        pending.append(contentsOf: bytes)
        let buffered = pending
        buffered.withUnsafeBytes { all in
            guard let selected = Self.select(all) else { return }
            pending = []
            install(selected, on: connection, firstBytes: all)
        }
    }

    public func connectionDidClose(_ connection: Connection, error: ConnectionError?) {
        cancelTimer(on: connection)
    }

    private func cancelTimer(on connection: Connection) {
        if let timer {
            connection.eventLoop.cancelTimer(timer)
        }
        timer = nil
    }

    private func install(_ selected: SelectedProtocol, on connection: Connection, firstBytes: UnsafeRawBufferPointer) {
        cancelTimer(on: connection)
        guard let handler = makeHandler(selected) else {
            connection.close()
            return
        }
        connection.setHandler(handler)
        guard connection.isOpen else { return }
        handler.connectionDidRead(connection, bytes: firstBytes)
    }
}
