import Synchronization

/// The cause of a request's cancellation.
public enum CancellationReason: String, Sendable, CaseIterable {
    /// The client closed or reset its connection, or a write to it failed.
    case clientDisconnected = "client_disconnected"
    /// The client asked to cancel (HTTP/2 RST_STREAM, WebSocket cancel message).
    case clientRequest = "client_request"
    /// The request's deadline passed.
    case deadline
    /// The client read too slowly and its buffered output passed the bound.
    case slowConsumer = "slow_consumer"
    /// The server is shutting down.
    case shutdown
}

/// A one-shot cancellation flag with callbacks.
///
/// The protocol layer sets it (disconnect, explicit cancel, deadline timer);
/// the scheduler registers a handler that removes the request's sequence.
/// Handlers run on the thread that calls `cancel`, exactly once each. They
/// must be short and must not block, which this type cannot check.
public final class Cancellation: Sendable {
    private struct State {
        var reason: CancellationReason?
        var handlers: [@Sendable (CancellationReason) -> Void] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether `cancel` has been called.
    public var isCancelled: Bool { state.withLock { $0.reason != nil } }

    /// The reason given to the first `cancel` call, or nil.
    public var reason: CancellationReason? { state.withLock { $0.reason } }

    /// Sets the flag and runs every registered handler. Only the first call has an effect.
    public func cancel(_ reason: CancellationReason) {
        let handlers: [@Sendable (CancellationReason) -> Void]? = state.withLock { state in
            guard state.reason == nil else { return nil }
            state.reason = reason
            let handlers = state.handlers
            state.handlers = []
            return handlers
        }
        for handler in handlers ?? [] {
            handler(reason)
        }
    }

    /// Registers `handler`; it runs at once, on this thread, if the flag is already set.
    public func onCancel(_ handler: @escaping @Sendable (CancellationReason) -> Void) {
        let alreadyCancelled: CancellationReason? = state.withLock { state in
            if let reason = state.reason { return reason }
            state.handlers.append(handler)
            return nil
        }
        if let alreadyCancelled {
            handler(alreadyCancelled)
        }
    }
}
