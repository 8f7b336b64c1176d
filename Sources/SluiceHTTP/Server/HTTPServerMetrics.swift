import SluiceCore

/// Metrics of the HTTP server layer. Client-caused failures are counted
/// here and logged only at debug level, so bad input cannot flood the logs.
enum HTTPServerMetrics {
    /// Counts one rejected request or dropped stream, labelled by the
    /// error's stable code (a bounded set: parser errors, `not_found`,
    /// `method_not_allowed`, `request_timeout`, `slow_consumer`).
    static func countClientError(code: String) {
        MetricsRegistry.shared.counter(
            "sluice_http_client_errors_total",
            help: "HTTP requests rejected or streams dropped because of the client, by error code",
            labels: [("code", code)]
        ).increment()
    }
}
