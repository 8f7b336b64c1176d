/// Counters and latency samples of one `sluice bench` run, in nanoseconds of the monotonic clock.
struct BenchSamples: Sendable {
    var requestsSent = 0
    /// Tokens that arrived inside the measured window.
    var tokensInWindow = 0
    /// Successful responses that ended inside the measured window.
    var streamsInWindow = 0
    /// Successful responses that ended at any time, warm-up and drain included.
    var streamsTotal = 0
    /// When the last successful response ended, or nil before the first.
    var lastCompletion: UInt64?
    /// Streams closed on purpose by `--disconnect-after`.
    var cancelled = 0
    /// Failures by kind, such as `http_429`, `connection_lost` or `connect_refused`.
    var errors: [String: Int] = [:]
    /// Time to first token of requests sent inside the window.
    var ttft: [UInt64] = []
    /// Gaps between tokens of one stream that arrived in different reads, both inside the window.
    var itl: [UInt64] = []
    /// Gaps of 0 between tokens that arrived in one read, counted rather than stored.
    var itlZeroGaps = 0

    mutating func countError(_ kind: String) {
        errors[kind, default: 0] += 1
    }
}

/// The figures that `sluice bench` prints, with the JSON keys of scripts/bench/stream_client.py.
struct BenchResult: Equatable, Sendable {
    var concurrency: Int
    var windowSeconds: Double
    var streams: Int
    var streamsPerSecond: Double
    var tokens: Int
    var tokensPerSecond: Double
    var ttftP50Milliseconds: Double?
    var ttftP99Milliseconds: Double?
    /// Whether a request still waiting for its first token had waited as long as the percentile.
    var ttftP50IsLowerBound: Bool
    var ttftP99IsLowerBound: Bool
    var ttftSamples: Int
    var ttftCensored: Int
    var itlP50Milliseconds: Double?
    var itlP99Milliseconds: Double?
    var itlSamples: Int
    var requestsSent: Int
    var streamsTotal: Int
    var cancelled: Int
    /// Failures by kind, sorted by kind.
    var errors: [(kind: String, count: Int)]

    static func == (lhs: BenchResult, rhs: BenchResult) -> Bool {
        lhs.jsonLine == rhs.jsonLine
    }

    /// Computes the figures of a run.
    /// - Parameters:
    ///   - window: nanoseconds from the window's start to its end, or to the last response when every
    ///     connection had finished before the window ended.
    ///   - censoredWaits: how long each request sent inside the window and still without a first token had
    ///     waited when the drain ended.
    init(concurrency: Int, window: UInt64, samples: BenchSamples, censoredWaits: [UInt64]) {
        let windowSeconds = max(Double(window) / 1e9, 1e-9)
        self.concurrency = concurrency
        self.windowSeconds = Self.rounded(windowSeconds, decimals: 3)
        streams = samples.streamsInWindow
        streamsPerSecond = Self.rounded(Double(samples.streamsInWindow) / windowSeconds, decimals: 2)
        tokens = samples.tokensInWindow
        tokensPerSecond = Self.rounded(Double(samples.tokensInWindow) / windowSeconds, decimals: 2)

        let ttft = (samples.ttft + censoredWaits).sorted()
        let ttftP50 = nearestRankPercentile(ttft, 0.5)
        let ttftP99 = nearestRankPercentile(ttft, 0.99)
        let longestCensored = censoredWaits.max()
        ttftP50Milliseconds = ttftP50.map(Self.milliseconds)
        ttftP99Milliseconds = ttftP99.map(Self.milliseconds)
        ttftP50IsLowerBound = Self.isLowerBound(ttftP50, longestCensored: longestCensored)
        ttftP99IsLowerBound = Self.isLowerBound(ttftP99, longestCensored: longestCensored)
        ttftSamples = ttft.count
        ttftCensored = censoredWaits.count

        let itl = samples.itl.sorted()
        itlP50Milliseconds = nearestRankPercentile(itl, zeros: samples.itlZeroGaps, 0.5).map(Self.milliseconds)
        itlP99Milliseconds = nearestRankPercentile(itl, zeros: samples.itlZeroGaps, 0.99).map(Self.milliseconds)
        itlSamples = itl.count + samples.itlZeroGaps

        requestsSent = samples.requestsSent
        streamsTotal = samples.streamsTotal
        cancelled = samples.cancelled
        errors = samples.errors.sorted { $0.key < $1.key }.map { (kind: $0.key, count: $0.value) }
    }

    private static func isLowerBound(_ percentile: UInt64?, longestCensored: UInt64?) -> Bool {
        guard let percentile, let longestCensored else { return false }
        return longestCensored >= percentile
    }

    /// Converts nanoseconds to milliseconds rounded to 3 decimals.
    private static func milliseconds(_ nanoseconds: UInt64) -> Double {
        rounded(Double(nanoseconds) / 1e6, decimals: 3)
    }

    private static func rounded(_ value: Double, decimals: Int) -> Double {
        var scale = 1.0
        for _ in 0..<decimals {
            scale *= 10
        }
        return (value * scale).rounded() / scale
    }

    /// One JSON object with the keys and units of scripts/bench/stream_client.py.
    var jsonLine: String {
        var writer = JSONWriter(capacity: 640)
        writer.raw("{\"concurrency\":")
        writer.integer(concurrency)
        writer.raw(",\"window_s\":")
        writer.number(windowSeconds)
        writer.raw(",\"streams\":")
        writer.integer(streams)
        writer.raw(",\"streams_per_s\":")
        writer.number(streamsPerSecond)
        writer.raw(",\"tokens\":")
        writer.integer(tokens)
        writer.raw(",\"tokens_per_s\":")
        writer.number(tokensPerSecond)
        writer.raw(",\"ttft_p50_ms\":")
        Self.writeOptional(ttftP50Milliseconds, to: &writer)
        writer.raw(",\"ttft_p99_ms\":")
        Self.writeOptional(ttftP99Milliseconds, to: &writer)
        writer.raw(",\"ttft_p50_lower_bound\":")
        writer.raw(ttftP50IsLowerBound ? "true" : "false")
        writer.raw(",\"ttft_p99_lower_bound\":")
        writer.raw(ttftP99IsLowerBound ? "true" : "false")
        writer.raw(",\"ttft_samples\":")
        writer.integer(ttftSamples)
        writer.raw(",\"ttft_censored\":")
        writer.integer(ttftCensored)
        writer.raw(",\"itl_p50_ms\":")
        Self.writeOptional(itlP50Milliseconds, to: &writer)
        writer.raw(",\"itl_p99_ms\":")
        Self.writeOptional(itlP99Milliseconds, to: &writer)
        writer.raw(",\"itl_samples\":")
        writer.integer(itlSamples)
        writer.raw(",\"requests_sent\":")
        writer.integer(requestsSent)
        writer.raw(",\"streams_total\":")
        writer.integer(streamsTotal)
        writer.raw(",\"cancelled\":")
        writer.integer(cancelled)
        writer.raw(",\"errors\":{")
        for (index, error) in errors.enumerated() {
            if index > 0 {
                writer.raw(",")
            }
            writer.string(error.kind)
            writer.raw(":")
            writer.integer(error.count)
        }
        writer.raw("}}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    private static func writeOptional(_ value: Double?, to writer: inout JSONWriter) {
        if let value {
            writer.number(value)
        } else {
            writer.raw("null")
        }
    }

    /// A few lines for a person: rates, latency percentiles and errors.
    var summary: String {
        func latency(_ value: Double?, lowerBound: Bool = false) -> String {
            guard let value else { return "n/a" }
            return (lowerBound ? ">= " : "") + "\(value) ms"
        }
        let errorText = errors.isEmpty ? "none" : errors.map { "\($0.kind) \($0.count)" }.joined(separator: ", ")
        return """
            measured window  \(windowSeconds) s, \(concurrency) connections
            streams          \(streams) (\(streamsPerSecond)/s); \(streamsTotal) in all, \(requestsSent) requests sent
            tokens           \(tokens) (\(tokensPerSecond)/s)
            TTFT             p50 \(latency(ttftP50Milliseconds, lowerBound: ttftP50IsLowerBound)), \
            p99 \(latency(ttftP99Milliseconds, lowerBound: ttftP99IsLowerBound)) \
            (\(ttftSamples) samples, \(ttftCensored) without a first token)
            ITL              p50 \(latency(itlP50Milliseconds)), p99 \(latency(itlP99Milliseconds)) \
            (\(itlSamples) gaps)
            cancelled        \(cancelled)
            errors           \(errorText)
            """
    }
}

/// Returns the nearest-rank percentile of sorted values, or nil when there are none.
///
/// `fraction` is in [0, 1]: 0.5 is the median, 0.99 the 99th percentile. The
/// rank is ceil(fraction × count), at least 1, as scripts/bench/benchstats.py computes it.
func nearestRankPercentile(_ sorted: [UInt64], _ fraction: Double) -> UInt64? {
    nearestRankPercentile(sorted, zeros: 0, fraction)
}

/// Returns the nearest-rank percentile of `zeros` values of 0 followed by `sorted`, or nil when both are empty.
func nearestRankPercentile(_ sorted: [UInt64], zeros: Int, _ fraction: Double) -> UInt64? {
    let count = zeros + sorted.count
    guard count > 0 else { return nil }
    let rank = min(max(1, Int((fraction * Double(count)).rounded(.up))), count)
    return rank <= zeros ? 0 : sorted[rank - zeros - 1]
}
