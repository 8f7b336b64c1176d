import Synchronization

/// A process-wide registry of Prometheus metrics. Handles are created once
/// (at start-up) and updated lock-free on hot paths; `render()` produces the
/// text exposition format.
public final class MetricsRegistry: Sendable {
    private let families = Mutex<[MetricFamily]>([])

    public init() {}

    /// The registry served at `/metrics`.
    public static let shared = MetricsRegistry()

    /// Returns the counter with this name and labels, creating it on first use.
    public func counter(_ name: String, help: String, labels: [(String, String)] = []) -> Counter {
        family(name, help: help, type: "counter") { Counter(labels: labels) } as! Counter
    }

    /// Returns the gauge with this name and labels, creating it on first use.
    public func gauge(_ name: String, help: String, labels: [(String, String)] = []) -> Gauge {
        family(name, help: help, type: "gauge") { Gauge(labels: labels) } as! Gauge
    }

    /// Returns the histogram with this name and labels, creating it on first use.
    /// - Parameter buckets: upper bounds, ascending; `+Inf` is added.
    public func histogram(
        _ name: String, help: String, labels: [(String, String)] = [], buckets: [Double]
    ) -> Histogram {
        family(name, help: help, type: "histogram") { Histogram(labels: labels, buckets: buckets) } as! Histogram
    }

    private func family(
        _ name: String, help: String, type: String, make: () -> any MetricSeries
    ) -> any MetricSeries {
        families.withLock { families in
            let index: Int
            if let existing = families.firstIndex(where: { $0.name == name }) {
                index = existing
            } else {
                families.append(MetricFamily(name: name, help: help, type: type))
                index = families.count - 1
            }
            let probe = make()
            if let series = families[index].series.first(where: { $0.labels.elementsEqual(probe.labels, by: ==) }) {
                return series
            }
            families[index].series.append(probe)
            return probe
        }
    }

    /// Renders every metric in the Prometheus text exposition format (version 0.0.4).
    public func render() -> String {
        let snapshot = families.withLock { $0 }
        var text = ""
        for family in snapshot {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            for series in family.series {
                series.render(name: family.name, into: &text)
            }
        }
        return text
    }
}

struct MetricFamily: Sendable {
    let name: String
    let help: String
    let type: String
    var series: [any MetricSeries] = []
}

protocol MetricSeries: AnyObject, Sendable {
    var labels: [(String, String)] { get }
    func render(name: String, into text: inout String)
}

func renderLabels(_ labels: [(String, String)], extra: (String, String)? = nil) -> String {
    let all = labels + (extra.map { [$0] } ?? [])
    guard !all.isEmpty else { return "" }
    let parts = all.map { key, value in
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return "\(key)=\"\(escaped)\""
    }
    return "{" + parts.joined(separator: ",") + "}"
}

func formatSample(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
}

/// A monotonically increasing count.
public final class Counter: MetricSeries {
    let labels: [(String, String)]
    private let value = Atomic<Int>(0)

    init(labels: [(String, String)]) { self.labels = labels }

    public func increment(by amount: Int = 1) { value.add(amount, ordering: .relaxed) }

    public var current: Int { value.load(ordering: .relaxed) }

    func render(name: String, into text: inout String) {
        text += "\(name)\(renderLabels(labels)) \(current)\n"
    }
}

/// A value that goes up and down.
public final class Gauge: MetricSeries {
    let labels: [(String, String)]
    private let value = Atomic<Int>(0)

    init(labels: [(String, String)]) { self.labels = labels }

    public func set(_ newValue: Int) { value.store(newValue, ordering: .relaxed) }
    public func increment(by amount: Int = 1) { value.add(amount, ordering: .relaxed) }
    public func decrement(by amount: Int = 1) { value.subtract(amount, ordering: .relaxed) }

    public var current: Int { value.load(ordering: .relaxed) }

    func render(name: String, into text: inout String) {
        text += "\(name)\(renderLabels(labels)) \(current)\n"
    }
}

/// Observations counted into fixed buckets, with their sum.
public final class Histogram: MetricSeries {
    let labels: [(String, String)]
    let bounds: [Double]
    private let state: Mutex<(counts: [Int], sum: Double, count: Int)>

    init(labels: [(String, String)], buckets: [Double]) {
        self.labels = labels
        self.bounds = buckets.sorted()
        self.state = Mutex((Array(repeating: 0, count: buckets.count), 0, 0))
    }

    public func observe(_ value: Double) {
        let bucket = bounds.firstIndex(where: { value <= $0 })
        state.withLock { state in
            if let bucket { state.counts[bucket] += 1 }
            state.sum += value
            state.count += 1
        }
    }

    /// Records a duration in seconds.
    public func observe(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        observe(Double(seconds) + Double(attoseconds) * 1e-18)
    }

    /// Total number of observations.
    public var count: Int { state.withLock { $0.count } }

    func render(name: String, into text: inout String) {
        let (counts, sum, count) = state.withLock { ($0.counts, $0.sum, $0.count) }
        var cumulative = 0
        for (bound, bucketCount) in zip(bounds, counts) {
            cumulative += bucketCount
            text += "\(name)_bucket\(renderLabels(labels, extra: ("le", formatSample(bound)))) \(cumulative)\n"
        }
        text += "\(name)_bucket\(renderLabels(labels, extra: ("le", "+Inf"))) \(count)\n"
        text += "\(name)_sum\(renderLabels(labels)) \(sum)\n"
        text += "\(name)_count\(renderLabels(labels)) \(count)\n"
    }
}

/// Bucket bounds in seconds for latencies from 0.5 ms to 60 s.
public let latencyBucketsSeconds: [Double] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]
