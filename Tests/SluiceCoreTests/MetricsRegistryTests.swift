import Testing
import SluiceCore

@Suite struct MetricsRegistryTests {
    @Test func counterWithLabelsRendersOneSeriesEach() {
        let registry = MetricsRegistry()
        registry.counter("requests_total", help: "Requests.", labels: [("status", "200")]).increment(by: 3)
        registry.counter("requests_total", help: "Requests.", labels: [("status", "429")]).increment()
        let text = registry.render()
        #expect(text.contains("# TYPE requests_total counter"))
        #expect(text.contains("requests_total{status=\"200\"} 3"))
        #expect(text.contains("requests_total{status=\"429\"} 1"))
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("# HELP requests_total") }.count == 1)
    }

    @Test func sameNameAndLabelsReturnsSameHandle() {
        let registry = MetricsRegistry()
        let first = registry.gauge("queue", help: "Queue.")
        let second = registry.gauge("queue", help: "Queue.")
        first.set(5)
        #expect(second.current == 5)
    }

    @Test func histogramBucketsAreCumulative() {
        let registry = MetricsRegistry()
        let histogram = registry.histogram("latency_seconds", help: "Latency.", buckets: [0.1, 1])
        histogram.observe(0.05)
        histogram.observe(0.5)
        histogram.observe(5)
        let text = registry.render()
        #expect(text.contains("latency_seconds_bucket{le=\"0.1\"} 1"))
        #expect(text.contains("latency_seconds_bucket{le=\"1\"} 2"))
        #expect(text.contains("latency_seconds_bucket{le=\"+Inf\"} 3"))
        #expect(text.contains("latency_seconds_count 3"))
    }

    @Test func labelValuesAreEscaped() {
        let registry = MetricsRegistry()
        registry.counter("odd_total", help: "Odd.", labels: [("path", "a\"b\\c\nd")]).increment()
        #expect(registry.render().contains("odd_total{path=\"a\\\"b\\\\c\\nd\"} 1"))
    }
}
